"""The admin section for an email touchpoint and a chat touchpoint's copy: the connection
status and Reconnect, reached by the very path the "Email provider connection lost"
email names; the auto-reply, signature and name saved, read back and refused on their
fields; Duplicate (docs/console.md, "The admin section"; docs/channels/email.md)."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit import services
from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import ADMIN, NewPage, axe_audit
from tests.browser.test_accessibility import report
from tests.browser.test_admin_section import log_in
from tests.channels.email.mail import new_mailbox
from tests.poll import until_sync

pytestmark = pytest.mark.browser


def _admin(base: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {login_token(base, *ADMIN)}"}


def test_a_lost_mailbox_is_reconnected_where_the_admins_email_says(
    new_page: NewPage, gateway: GatewayProcess, dovecot: services.Dovecot
) -> None:
    base = gateway.base_url
    admin = _admin(base)
    address, password = new_mailbox(dovecot)
    r = httpx.post(
        base + "/api/admin/touchpoints",
        headers=admin,
        json={"name": "Shop mail", "channel": "email", "direction": "both",
              "routing_mode": "simplified", "queue_ids": ["q_support"],
              "settings": {
                  "address": address,
                  "imap": {"host": "127.0.0.1", "port": dovecot.port, "security": "none"},
                  # nothing listens: the admins' email goes through the demo mailbox
                  "smtp": {"host": "127.0.0.1", "port": services.free_port(), "security": "none"},
                  "password": "wrong-password"}},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    tp_id = r.json()["id"]
    assert httpx.post(f"{base}/api/admin/touchpoints/{tp_id}/activate", headers=admin).is_success
    status_url = f"{base}/api/admin/touchpoints/{tp_id}/email"
    until_sync(lambda: httpx.get(status_url, headers=admin).json(),
               lambda s: s["status"] == "lost", what="lost")  # fmt: skip

    # The admins' email names the way there: Admin > Touchpoints > Shop mail > Reconnect.
    mails = until_sync(
        lambda: httpx.get(base + "/demo/email/messages", params={"address": ADMIN[0]}).json(),
        lambda ms: any(m["subject"] == "Email provider connection lost: Shop mail" for m in ms),
        what="the admins' email",
    )
    [mail] = [m for m in mails if m["subject"] == "Email provider connection lost: Shop mail"]
    text = " ".join(mail["text"].split())
    found = re.search(r"Admin > (.+?) \(POST /api/admin/touchpoints/(\S+)/email/reconnect\)", text)
    assert found, text
    assert found.group(2) == tp_id
    section, touchpoint, button = found.group(1).split(" > ")

    page: Page = new_page()
    page.on("dialog", lambda d: d.accept())
    log_in(page, base)
    expect(page.get_by_role("heading", name="Admin", level=1)).to_be_visible()
    page.get_by_role("navigation", name="Admin sections").get_by_role("link", name=section).click()
    page.get_by_role("table", name="Touchpoints").get_by_role(
        "link", name=touchpoint, exact=True
    ).click()
    conn = page.get_by_role("region", name="Connection")
    expect(conn).to_contain_text("Connection lost")
    expect(conn).to_contain_text("refused the credentials")
    expect(conn).to_contain_text("Email provider connection lost")
    assert "wrong-password" not in page.content()

    # Reconnect with the stored (wrong) password: the outcome is shown, still lost.
    reconnect = conn.get_by_role("button", name=button)
    reconnect.click()
    outcome = conn.get_by_role("status")
    expect(outcome).to_contain_text("Not reconnected")
    expect(outcome).to_contain_text("credentials")

    # With the right password: connected, the notice gone.
    secret = conn.get_by_role("textbox", name="New password")
    secret.fill(password)
    reconnect.click()
    expect(outcome).to_have_text("Reconnected.")
    expect(conn).to_contain_text("Connected to the mail server")
    expect(conn).not_to_contain_text("Email provider connection lost")
    expect(secret).to_have_value("")
    # Connected, it offers Reauthenticate, which needs the new password.
    reauthenticate = conn.get_by_role("button", name="Reauthenticate")
    reauthenticate.click()
    expect(secret).to_have_accessible_description(re.compile("Enter the new password"))
    status = httpx.get(status_url, headers=admin).json()
    assert status["status"] == "connected" and status["notices"] == []
    # and Reconnect beside it, with the stored password: a new session, connected again
    again = conn.get_by_role("button", name="Reconnect")
    again.click()
    until_sync(lambda: httpx.get(status_url, headers=admin).json(),
               lambda s: s["status"] == "connected" and s["connected_at"] > status["connected_at"],
               what="connected again")  # fmt: skip
    expect(outcome).to_have_text("Reconnected.")
    expect(conn).to_contain_text("Connected to the mail server")
    expect(conn.get_by_role("button", name="Reauthenticate")).to_be_visible()

    # The API's refusal is shown: the touchpoint was deleted meanwhile.
    assert httpx.post(f"{base}/api/admin/touchpoints/{tp_id}/deactivate", headers=admin).is_success
    assert httpx.delete(f"{base}/api/admin/touchpoints/{tp_id}", headers=admin).status_code == 204
    refusal = httpx.post(f"{status_url}/reconnect", headers=admin, json={})
    assert refusal.status_code == 404
    secret.fill(password)
    reauthenticate.click()
    expect(conn.get_by_role("alert")).to_contain_text(refusal.json()["error"]["message"])


def test_an_email_touchpoints_auto_reply_signature_and_name(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    page: Page = new_page(bypass_csp=True)  # for axe-core's script
    log_in(page, base)
    page.get_by_role("table", name="Touchpoints").get_by_role(
        "link", name="Demo Support", exact=True
    ).click()
    expect(page.get_by_role("heading", name="Demo Support", level=2)).to_be_visible()
    expect(page.get_by_role("region", name="Connection")).to_contain_text("the demo mailbox")
    reply_on = page.get_by_role("checkbox", name="Send the auto-reply")
    reply = page.get_by_role("textbox", name="Auto-reply text")
    sign_on = page.get_by_role("checkbox", name="Add the signature")
    sign = page.get_by_role("textbox", name="Signature text")
    expect(reply_on).to_be_checked()
    expect(reply).to_have_value(re.compile("Thanks for writing to Demo Support"))
    expect(sign_on).to_be_checked()
    expect(sign).to_have_value(re.compile(re.escape("{{agent.name}}")))
    bad = report(axe_audit(page))
    assert not bad, bad

    # Refused on its field: an enabled auto-reply without text.
    save = page.get_by_role("button", name="Save changes")
    reply.fill("")
    save.click()
    expect(reply).to_have_attribute("aria-invalid", "true")
    expect(reply).to_have_accessible_description(re.compile("an enabled auto-reply needs its text"))
    expect(page.get_by_role("form", name="Demo Support").locator("ul.problems")).to_contain_text(
        "settings.auto_reply.html"
    )

    # Saved, then read back after a reload.
    name = page.get_by_role("textbox", name="Name (internal)")
    name.fill("Demo Support (EN)")
    reply.fill('<p>We got it: <a href="tel:+15550199">call us</a>.</p>')
    sign_on.uncheck()
    sign.fill("<p>{{agent.name}}, Demo</p>")
    save.click()
    expect(page.get_by_role("heading", name="Demo Support (EN)", level=2)).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Demo Support (EN)", level=2)).to_be_visible()
    expect(page.get_by_role("textbox", name="Name (internal)")).to_have_value("Demo Support (EN)")
    expect(page.get_by_role("checkbox", name="Send the auto-reply")).to_be_checked()
    expect(page.get_by_role("textbox", name="Auto-reply text")).to_have_value(
        re.compile(re.escape('href="tel:+15550199"'))
    )
    expect(page.get_by_role("checkbox", name="Add the signature")).not_to_be_checked()
    expect(page.get_by_role("textbox", name="Signature text")).to_have_value(
        "<p>{{agent.name}}, Demo</p>"
    )
    tp = httpx.get(f"{base}/api/admin/touchpoints/tp_demo_email", headers=_admin(base)).json()
    assert tp["name"] == "Demo Support (EN)"
    assert tp["settings"]["auto_reply"]["enabled"] is True
    assert "tel:+15550199" in tp["settings"]["auto_reply"]["html"]
    assert tp["settings"]["signature"] == {"enabled": False, "html": "<p>{{agent.name}}, Demo</p>"}
    assert tp["settings"]["provider"] == "demo" and tp["settings"]["address"] == "support@demo.test"


def test_a_chat_touchpoint_duplicated(new_page: NewPage, gateway: GatewayProcess) -> None:
    base = gateway.base_url
    admin = _admin(base)
    [source] = [
        t
        for t in httpx.get(base + "/api/admin/touchpoints", headers=admin).json()
        if t["name"] == "Demo site (127.0.0.1)"
    ]
    page: Page = new_page()
    log_in(page, base)
    page.get_by_role("link", name="Demo site (127.0.0.1)").click()
    expect(page.get_by_role("heading", name="Demo site (127.0.0.1)", level=2)).to_be_visible()
    page.get_by_role("button", name="Duplicate").click()
    expect(
        page.get_by_role("heading", name="Copy of Demo site (127.0.0.1)", level=2)
    ).to_be_visible()
    expect(page.get_by_role("button", name="Activate")).to_be_visible()
    expect(page.get_by_role("textbox", name="Website domain")).to_have_value(source["domain"])
    copy_id = page.evaluate("() => decodeURIComponent(location.hash.split('/')[1])")
    assert copy_id != source["id"]
    copy = httpx.get(f"{base}/api/admin/touchpoints/{copy_id}", headers=admin).json()
    assert copy["name"] == "Copy of Demo site (127.0.0.1)" and copy["active"] is False
    for key in ("domain", "queue_ids", "form", "widget", "flow"):
        assert copy[key] == source[key], key
