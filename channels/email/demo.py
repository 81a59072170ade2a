"""The email demo (``./scripts/serve``): a touchpoint on the in-process demo mailbox
(demo_mailbox.py) and a page, ``/demo/email``, where a newcomer writes as the customer
and reads the answers, while the agent answers from the console.

* ``POST /demo/email/messages`` {from, name, subject, text, html, in_reply_to} builds a real
  RFC 5322 message (the standard library's email API) and drops it in the demo
  touchpoint's INBOX, where its receiving loop picks it up as it would over IMAP;
* ``GET /demo/email/messages?address=`` lists what the gateway sent to that address
  (parsed and sanitised as any email is), newest last.

Only in demo mode; the page and its script are served with a strict CSP.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, localtime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import msgspec
from email_validator import EmailNotValidError, validate_email
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from channels.email.mime import format_address, parse
from gateway.errors import InvalidInput
from gateway.model.records import Touchpoint
from gateway.web.bodies import read_json

if TYPE_CHECKING:
    from channels.email import EmailChannel

DEMO_TOUCHPOINT_ID = "tp_demo_email"
DEMO_ADDRESS = "support@demo.test"
STATIC = Path(__file__).resolve().parent / "static"
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self';"
    " connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none';"
    " base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def demo_touchpoint(now: float) -> Touchpoint:
    return Touchpoint(
        id=DEMO_TOUCHPOINT_ID,
        name="Demo Support",
        channel="email",
        active=True,
        direction="both",
        routing_mode="simplified",
        queue_ids=["q_support"],
        settings={
            "address": DEMO_ADDRESS,
            "provider": "demo",
            "auto_reply": {
                "enabled": True,
                "html": "<p>Thanks for writing to Demo Support! An agent will answer soon."
                ' Meanwhile, our <a href="https://example.com/help">help centre</a> may'
                ' help, or call us: <a href="tel:+15550100">+1 555 0100</a>.</p>',
            },
            "signature": {
                "enabled": True,
                "html": "<p>{{agent.name}}<br>Demo Support · "
                '<a href="tel:+15550100">+1 555 0100</a></p>',
            },
        },
        created_at=now,
    )


Short = Annotated[str, msgspec.Meta(max_length=200)]


class DemoEmailIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    from_: Short = msgspec.field(name="from")
    name: Short = ""
    subject: Annotated[str, msgspec.Meta(max_length=500)] = ""
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
    in_reply_to: Short = ""
    # an HTML part too, as mail clients send (sanitised on arrival like any email's)
    html: Annotated[str, msgspec.Meta(max_length=50_000)] = ""


class DemoEmailOut(msgspec.Struct, kw_only=True):
    message_id: str
    from_: str = msgspec.field(name="from")
    from_name: str
    subject: str
    date: float | None
    text: str
    quoted_text: str


def routes(channel: EmailChannel) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "demo-email.html", headers=_HEADERS)

    async def script(request: Request) -> Response:
        return FileResponse(STATIC / "demo-email.js", headers=_HEADERS)

    async def write(request: Request) -> Response:
        try:
            body = read_json(await request.body(), DemoEmailIn)
            sender = validate_email(
                body.from_, check_deliverability=False, test_environment=True
            ).normalized
        except (msgspec.ValidationError, EmailNotValidError) as exc:
            raise InvalidInput([("", str(exc))]) from None
        msg = EmailMessage()
        msg["From"] = format_address(sender, body.name)
        msg["To"] = format_address(DEMO_ADDRESS, "Demo Support")
        msg["Subject"] = body.subject
        msg["Date"] = format_datetime(localtime())
        message_id = make_msgid(domain=sender.rpartition("@")[2])
        msg["Message-ID"] = message_id
        if body.in_reply_to:
            msg["In-Reply-To"] = body.in_reply_to
            msg["References"] = body.in_reply_to
        msg.set_content(body.text)
        if body.html:
            msg.add_alternative(body.html, subtype="html")
        channel.office.folder(DEMO_ADDRESS, "INBOX").add(bytes(msg))
        return Response(
            msgspec.json.encode({"message_id": message_id}),
            status_code=201,
            media_type="application/json",
        )

    async def read(request: Request) -> Response:
        address = request.query_params.get("address", "").strip().lower()
        out = []
        for raw in channel.office.delivered.get(address, []):
            email = parse(raw)
            out.append(
                DemoEmailOut(
                    message_id=email.message_id,
                    from_=email.from_addr,
                    from_name=email.from_name,
                    subject=email.subject,
                    date=email.date,
                    text=email.text,
                    quoted_text=email.quoted_text,
                )
            )
        return Response(msgspec.json.encode(out), media_type="application/json", headers=_HEADERS)

    return [
        Route("/demo/email", page),
        Route("/demo/email/demo-email.js", script),
        Route("/demo/email/messages", write, methods=["POST"]),
        Route("/demo/email/messages", read, methods=["GET"]),
    ]
