"""The console's Reply all and Forward buttons, through Chromium, on a real mailbox: an
email to the touchpoint and two others (To and Cc) arrives over IMAP (the session's
Dovecot); the agent's Reply all reaches the SMTP server (aiosmtpd) addressed to the
sender and the other recipients, never to the touchpoint itself, threaded as a reply;
a Forward reaches only the address the agent typed, with the original's text and not
its attachments (docs/channels/email.md, "Sending")."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit import services
from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import ADMIN, NewPage, login
from tests.channels.email.mail import SmtpServer, _deliver, settings_for
from tests.poll import until_sync

pytestmark = pytest.mark.browser

# a 1x1 PNG: the original's attachment, which a forward does not carry
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """aiosmtpd in its own thread (the Playwright tests have no event loop of theirs to
    start it from): what it accepts is polled in ``received``."""
    server = SmtpServer()
    server._controller.start()
    try:
        yield server
    finally:
        server.stop()


def received(smtp: SmtpServer, count: int) -> list[tuple[list[str], EmailMessage]]:
    """The first ``count`` emails the SMTP server accepted: (envelope recipients, email)."""
    until_sync(
        lambda: len(smtp.recorder.messages) >= count, what=f"{count} email(s) at the SMTP server"
    )
    return [(rcpts, msg) for _, rcpts, msg in smtp.recorder.messages[:count]]


def _text(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body(preferencelist=(kind,))
    assert isinstance(part, EmailMessage), kind
    return " ".join(part.get_content().split())


def test_reply_all_and_forward_from_the_console(
    new_page: NewPage, gateway: GatewayProcess, dovecot: services.Dovecot, smtp: SmtpServer
) -> None:
    base = gateway.base_url
    admin = {"Authorization": f"Bearer {login_token(base, *ADMIN)}"}
    address = f"shop-{uuid.uuid4().hex[:8]}@example.test"
    dovecot.add_user(address, "secret")
    r = httpx.post(
        base + "/api/admin/touchpoints",
        headers=admin,
        json={"name": "Shop mail", "channel": "email", "direction": "both",
              "routing_mode": "simplified", "queue_ids": ["q_support"],
              "settings": settings_for(dovecot, smtp, address)},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    tp_id = r.json()["id"]
    assert httpx.post(f"{base}/api/admin/touchpoints/{tp_id}/activate", headers=admin).is_success
    until_sync(
        lambda: (
            httpx.get(f"{base}/api/admin/touchpoints/{tp_id}/email", headers=admin).json()["status"]
            == "connected"
        ),
        what="connection",
    )

    original = EmailMessage()
    original["From"] = "Casey Customer <casey@customer.example>"
    # the touchpoint among the recipients, as it is on any email to it (its case too)
    original["To"] = f"{address.upper()}, Bo <bo@customer.example>"
    original["Cc"] = "carol@partner.example"
    original["Subject"] = "Order 1234"
    original["Message-ID"] = "<order-1234@customer.example>"
    original["References"] = "<earlier@customer.example>"
    original["In-Reply-To"] = "<earlier@customer.example>"
    original.set_content("Hello, order 1234 has not arrived.")
    original.add_attachment(PNG, maintype="image", subtype="png", filename="label.png")
    _deliver(dovecot, address, bytes(original), "INBOX")

    agent: Page = login(new_page(), base)
    inbox = agent.get_by_role("region", name=re.compile("^Inbox"))
    expect(inbox).to_contain_text("Casey", timeout=30_000)
    inbox.get_by_text("Casey").first.click()
    agent.get_by_role("button", name="Assign", exact=True).click()
    expect(agent.get_by_role("list", name="Emails")).to_contain_text("Order 1234", timeout=30_000)

    # Reply all: To the sender, Cc the others, never the touchpoint's own address
    agent.get_by_role("button", name="Reply all", exact=True).click()
    expect(agent.get_by_role("textbox", name="To", exact=True)).to_have_value(
        "casey@customer.example"
    )
    expect(agent.get_by_role("textbox", name="Cc", exact=True)).to_have_value(
        "bo@customer.example, carol@partner.example"
    )
    box = agent.get_by_role("textbox", name="Reply")
    box.fill("We are on it, all of you.")
    box.press("Shift+Enter")
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("We are on it, all of you.")
    [(rcpts, reply)] = received(smtp, 1)
    assert sorted(rcpts) == [
        "bo@customer.example",
        "carol@partner.example",
        "casey@customer.example",
    ]
    assert reply["To"] == "casey@customer.example"
    assert reply["Cc"] == "bo@customer.example, carol@partner.example"
    assert reply["Subject"] == "Re: Order 1234"
    assert reply["In-Reply-To"] == "<order-1234@customer.example>"
    assert reply["References"] == "<earlier@customer.example> <order-1234@customer.example>"
    assert reply["From"] == f"Shop mail <{address}>"
    assert "We are on it, all of you." in _text(reply, "plain")
    # the fields are emptied once sent: the next reply is an ordinary one
    expect(agent.get_by_role("textbox", name="Cc", exact=True)).to_have_value("")

    # Forward: only to the address typed, the original's text, not its attachment
    agent.get_by_role("button", name="Forward", exact=True).click()
    expect(agent.get_by_role("textbox", name="Subject", exact=True)).to_have_value(
        "Fwd: Order 1234"
    )
    to = agent.get_by_role("textbox", name="To", exact=True)
    expect(to).to_be_focused()
    to.fill("dan@warehouse.example")
    box.fill("Dan, please check this order.")
    with agent.expect_request(re.compile(r"/api/conversations/[^/]+/messages$")) as sent:
        box.press("Shift+Enter")
    cid = sent.value.url.split("/")[-2]
    auth = {"Authorization": sent.value.headers["authorization"]}
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("please check this order")
    [_, (rcpts, fwd)] = received(smtp, 2)
    assert rcpts == ["dan@warehouse.example"]
    assert fwd["To"] == "dan@warehouse.example" and fwd["Cc"] is None
    assert fwd["Subject"] == "Fwd: Order 1234"
    assert fwd["In-Reply-To"] == "<order-1234@customer.example>"  # in the thread, as docs say
    for kind in ("plain", "html"):
        text = _text(fwd, kind)
        assert "Dan, please check this order." in text
        assert "Forwarded message" in text and "casey@customer.example" in text
        assert "Hello, order 1234 has not arrived." in text
    assert [p.get_filename() for p in fwd.iter_attachments()] == []
    assert len(smtp.recorder.messages) == 2

    # the message API itself never writes to the touchpoint: dropped from a copy list,
    # refused as the addressee
    url = f"{base}/api/conversations/{cid}/messages"
    r = httpx.post(url, headers=auth, json={"client_msg_id": "to-self", "body": "Hi",
                                            "content": {"to": [address]}})  # fmt: skip
    assert r.status_code == 422 and "content.to" in r.text, r.text
    r = httpx.post(url, headers=auth, json={"client_msg_id": "cc-self", "body": "Noted.",
                                            "content": {"cc": [address.upper(), "bo@customer.example"]}})  # fmt: skip
    assert r.is_success, r.text
    [*_, (rcpts, copy)] = received(smtp, 3)
    assert sorted(rcpts) == ["bo@customer.example", "casey@customer.example"]
    assert copy["Cc"] == "bo@customer.example"
