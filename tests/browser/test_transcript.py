"""A chat touchpoint's mailbox, through Chromium: the admin names the email touchpoint
that answers by email (the admin section's "Mailbox for answers and transcripts"), and a
visitor whose chat has ended asks for its transcript by email, which the demo mailbox
sends to their address (read back from the demo's outside mailboxes)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import (
    NewPage,
    accept_offer,
    axe_audit,
    login,
    open_widget,
    reply,
    start_chat,
)
from tests.browser.test_accessibility import report
from tests.browser.test_admin_section import log_in

pytestmark = pytest.mark.browser


def test_the_admin_names_a_mailbox_and_the_visitor_gets_the_transcript_by_email(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    admin: Page = new_page(bypass_csp=True)
    log_in(admin, base)
    admin.get_by_role("table", name="Touchpoints").get_by_role(
        "link", name="Demo site (127.0.0.1)"
    ).click()
    mailbox = admin.get_by_role("combobox", name="Mailbox for answers and transcripts")
    expect(mailbox).to_have_value("")
    expect(mailbox).to_have_accessible_description(
        "Answers to left messages are emailed through it, and visitors can ask for the "
        "transcript of an ended chat. None: answers are shown on the visitor's next visit only."
    )
    mailbox.select_option(label="Demo Support (support@demo.test)")
    admin.get_by_role("button", name="Save changes").click()
    expect(admin.get_by_role("status").filter(has_text="Changes saved.")).to_have_count(1)
    expect(admin.get_by_role("combobox", name="Mailbox for answers and transcripts")).to_have_value(
        "tp_demo_email"
    )
    found = {"touchpoint editor with a mailbox": axe_audit(admin)}

    agent: Page = login(new_page(), base)
    visitor: Page = new_page(bypass_csp=True)
    visitor.goto(base + "/demo")
    open_widget(visitor)
    frame = start_chat(visitor, "Tomas", "tomas@example.com", "Is <b>this</b> in stock?")
    accept_offer(agent, "Tomas")
    reply(agent, "Yes, 4 left & ready to ship.")
    messages = frame.get_by_role("list", name="Messages")
    expect(messages).to_contain_text("4 left & ready to ship.")
    frame.get_by_role("button", name="End chat").click()
    frame.get_by_role("button", name="Yes, end it").click()
    expect(messages).to_contain_text("You ended the chat.")

    form = frame.get_by_role("form", name="Email me the transcript")
    email = form.get_by_role("textbox", name="Your email")
    expect(email).to_have_value("tomas@example.com")  # the pre-chat form's
    found["widget, transcript offered"] = axe_audit(visitor)
    email.fill("tomas@")
    form.get_by_role("button", name="Send transcript").click()
    expect(form.get_by_role("alert")).to_have_text("Enter a valid email address.")
    expect(email).to_have_attribute("aria-invalid", "true")
    email.fill("tomas.t@example.com")
    form.get_by_role("button", name="Send transcript").click()
    expect(form.get_by_role("status")).to_have_text(
        "The transcript is on its way to tomas.t@example.com."
    )
    found["widget, transcript sent"] = axe_audit(visitor)

    [mail] = httpx.get(
        base + "/demo/email/messages", params={"address": "tomas.t@example.com"}
    ).json()
    assert mail["subject"] == "Your chat with Demo shop"
    assert "Is <b>this</b> in stock?" in mail["text"]
    assert "Yes, 4 left & ready to ship." in mail["text"]
    assert (
        httpx.get(base + "/demo/email/messages", params={"address": "tomas@example.com"}).json()
        == []
    )

    bad = {screen: report(v) for screen, v in found.items() if v}
    assert not bad, "\n".join(f"{screen}:\n{text}" for screen, text in bad.items())
