"""Run the provider emulators on loopback: ``python -m devkit.emulators --twilio 8101
--whatsapp 8102 --messenger 8103`` (any subset). Stops on SIGINT / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn

from devkit.emulators.base import Emulator


def emulator(name: str) -> Emulator:
    if name == "twilio":
        from devkit.emulators.twilio import TwilioEmulator

        return TwilioEmulator()
    if name == "whatsapp":
        from devkit.emulators.whatsapp import WhatsAppEmulator

        return WhatsAppEmulator()
    from devkit.emulators.messenger import MessengerEmulator

    return MessengerEmulator()


class _Server(uvicorn.Server):
    """One of several servers in the process: the process handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def demo(emu: Emulator, gateway: str) -> None:
    """Configure an emulator for the demo's touchpoints (channels/phone) at ``gateway``."""
    from channels import phone

    if emu.name == "twilio":
        emu.accounts[phone.SMS["account_sid"]] = phone.SMS["auth_token"]  # type: ignore[attr-defined]
        emu.numbers[phone.SMS["number"]] = {  # type: ignore[attr-defined]
            "account": phone.SMS["account_sid"],
            "sms_url": f"{gateway}/webhooks/sms/{phone.DEMO_IDS['twilio']}",
            "status": "ok",
        }
    elif emu.name == "whatsapp":
        emu.numbers[phone.WHATSAPP["phone_number_id"]] = {  # type: ignore[attr-defined]
            "display_phone_number": phone.WHATSAPP["number"],
            "token": phone.WHATSAPP["access_token"],
            "app_secret": phone.APP_SECRET,
            "webhook_url": f"{gateway}/webhooks/whatsapp/{phone.DEMO_IDS['whatsapp']}",
        }
    else:
        emu.pages[phone.MESSENGER["page_id"]] = {  # type: ignore[attr-defined]
            "token": phone.MESSENGER["page_access_token"],
            "app_secret": phone.APP_SECRET,
            "name": phone.MESSENGER["page_name"],
            "webhook_url": f"{gateway}/webhooks/messenger/{phone.DEMO_IDS['messenger']}",
        }


async def serve(ports: dict[str, int], host: str, gateway: str = "") -> None:
    emulators = {name: emulator(name) for name in ports}
    if gateway:
        for emu in emulators.values():
            demo(emu, gateway.rstrip("/"))
    servers = [
        _Server(
            uvicorn.Config(
                emulators[name].app(), host=host, port=port, log_level="warning", lifespan="on"
            )
        )
        for name, port in ports.items()
    ]

    def stop() -> None:
        for s in servers:
            s.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    await asyncio.gather(*(s.serve() for s in servers))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devkit.emulators")
    for name in ("twilio", "whatsapp", "messenger"):
        parser.add_argument(f"--{name}", type=int, metavar="PORT")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--demo-gateway",
        default="",
        metavar="URL",
        help="configure the demo's numbers and page (channels/phone) for this gateway",
    )
    args = parser.parse_args()
    ports = {n: getattr(args, n) for n in ("twilio", "whatsapp", "messenger") if getattr(args, n)}
    if not ports:
        parser.error("name at least one emulator and its port")
    asyncio.run(serve(ports, args.host, args.demo_gateway))


if __name__ == "__main__":
    main()
