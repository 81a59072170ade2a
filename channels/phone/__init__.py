"""The demo's messaging side (``./scripts/serve``): touchpoints for SMS, WhatsApp and
Messenger whose providers are the emulators on loopback (GATEWAY_DEMO_PROVIDERS), and
the **phone page** (``/demo/phone``): a contact's side of a thread in the browser. The
page talks to the emulators' control API (a phone texting a number, a person writing to
a page); they post signed webhooks to the gateway and keep what the agent sent, which
the page shows. Files go both ways: the page attaches one as the provider's phone
sends it (an MMS, a WhatsApp medium, a Messenger attachment), and shows what the agent
sent from the copy the emulator kept when it fetched the gateway's link.

The demo's provider credentials are public constants, like the demo agent's password:
the emulators sign with them (``python -m devkit.emulators --demo-gateway URL``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from gateway.model.records import Touchpoint
from gateway.settings import Settings
from gateway.web.context import web_of
from gateway.web.pages import static_files

STATIC = Path(__file__).resolve().parent / "static"

APP_SECRET: Final = "demo-meta-app-secret"
VERIFY_TOKEN: Final = "demo-verify-token"
SMS: Final = {
    "provider": "twilio",
    "number": "+14155550100",
    "account_sid": "AC" + "de30" * 8,
    "auth_token": "demo-twilio-auth-token",
}
WHATSAPP: Final = {
    "phone_number_id": "100200300400500",
    "number": "+14155550111",
    "access_token": "demo-whatsapp-token",
    "app_secret": APP_SECRET,
    "verify_token": VERIFY_TOKEN,
}
MESSENGER: Final = {
    "page_id": "1029384756",
    "page_name": "demoshop",
    "page_access_token": "demo-page-token",
    "app_secret": APP_SECRET,
    "verify_token": VERIFY_TOKEN,
}
DEMO_IDS: Final = {
    "twilio": "tp_demo_sms",
    "whatsapp": "tp_demo_whatsapp",
    "messenger": "tp_demo_messenger",
}
_CHANNELS: Final = {
    "twilio": ("sms", "Demo SMS line", SMS),
    "whatsapp": ("whatsapp", "Demo WhatsApp", WHATSAPP),
    "messenger": ("messenger", "Demo Messenger page", MESSENGER),
}


def providers(settings: Settings) -> dict[str, str]:
    """GATEWAY_DEMO_PROVIDERS as {provider: base URL} (validated with the settings)."""
    return settings.demo_provider_urls


def demo_touchpoints(settings: Settings, now: float) -> list[Touchpoint]:
    """The messaging touchpoints of the demo, one per emulated provider."""
    out = []
    for provider, url in providers(settings).items():
        channel, name, conf = _CHANNELS[provider]
        extra: dict[str, Any] = {"api_base": url}
        if channel != "sms":
            extra["api_version"] = "v21.0"
        out.append(
            Touchpoint(
                id=DEMO_IDS[provider],
                name=name,
                channel=channel,  # type: ignore[arg-type]
                active=True,
                direction="both" if channel == "sms" else "inbound",
                routing_mode="simplified",
                queue_ids=["q_support"],
                settings={**conf, **extra},
                created_at=now,
            )
        )
    return out


def refreshed(tp: Touchpoint, settings: Settings) -> Touchpoint | None:
    """The demo touchpoint pointing at this run's emulator, or None if it already does."""
    for provider, tp_id in DEMO_IDS.items():
        url = providers(settings).get(provider)
        if tp.id == tp_id and url and tp.settings.get("api_base") != url:
            return msgspec.structs.replace(tp, settings={**tp.settings, "api_base": url})
    return None


async def phone_config(request: Request) -> Response:
    """What the phone page needs: where each emulator is and whom to write to (no secret)."""
    web = web_of(request)
    urls = providers(web.settings)
    out: dict[str, Any] = {}
    if "twilio" in urls:
        out["sms"] = {"emulator": urls["twilio"], "number": SMS["number"]}
    if "whatsapp" in urls:
        out["whatsapp"] = {
            "emulator": urls["whatsapp"],
            "number": WHATSAPP["number"],
            "phone_number_id": WHATSAPP["phone_number_id"],
        }
    if "messenger" in urls:
        out["messenger"] = {
            "emulator": urls["messenger"],
            "page_id": MESSENGER["page_id"],
            "page_name": MESSENGER["page_name"],
        }
    return JSONResponse(out, headers={"Cache-Control": "no-store"})


async def phone_page(request: Request) -> Response:
    # The page calls the emulators on their own ports (connect-src) and shows the images
    # the contact received from their copies (img-src).
    emulators = " ".join(providers(web_of(request).settings).values())
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: {emulators}; "
        f"connect-src 'self' {emulators}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    )
    return FileResponse(
        STATIC / "phone.html",
        headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"},
    )


def routes(settings: Settings) -> list[BaseRoute]:
    if not settings.demo:
        return []
    return [
        Route("/demo/phone", phone_page),
        Route("/demo/phone/config.json", phone_config),
        Mount("/demo/phone/static", app=static_files(STATIC), name="phone"),
    ]
