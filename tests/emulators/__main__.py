"""Run the provider emulators on loopback: ``python -m tests.emulators --twilio 8101
--whatsapp 8102 --messenger 8103`` (any subset). Stops on SIGINT / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn

from tests.emulators.base import Emulator


def emulator(name: str) -> Emulator:
    if name == "twilio":
        from tests.emulators.twilio import TwilioEmulator

        return TwilioEmulator()
    if name == "whatsapp":
        from tests.emulators.whatsapp import WhatsAppEmulator

        return WhatsAppEmulator()
    from tests.emulators.messenger import MessengerEmulator

    return MessengerEmulator()


class _Server(uvicorn.Server):
    """One of several servers in the process: the process handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(ports: dict[str, int], host: str) -> None:
    servers = [
        _Server(
            uvicorn.Config(
                emulator(name).app(), host=host, port=port, log_level="warning", lifespan="on"
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
    parser = argparse.ArgumentParser(prog="python -m tests.emulators")
    for name in ("twilio", "whatsapp", "messenger"):
        parser.add_argument(f"--{name}", type=int, metavar="PORT")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    ports = {n: getattr(args, n) for n in ("twilio", "whatsapp", "messenger") if getattr(args, n)}
    if not ports:
        parser.error("name at least one emulator and its port")
    asyncio.run(serve(ports, args.host))


if __name__ == "__main__":
    main()
