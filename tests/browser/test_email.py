"""The email channel in the console, through Chromium: a customer's email (written on
the demo page, and one with HTML carrying a script and a tracking pixel) lands in the
Inbox; the agent reads it in a sandboxed frame where nothing runs and remote images stay
blocked until asked, expands the quoted text, and answers with a CC; the customer reads
the answer on the demo page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import NewPage, login, shot

pytestmark = pytest.mark.browser


def test_an_email_read_safely_and_answered_from_the_console(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    agent: Page = login(new_page(), base)
    customer: Page = new_page()
    customer.goto(base + "/demo/email")
    customer.get_by_role("textbox", name="Your email").fill("dana@customer.test")
    customer.get_by_role("textbox", name="Your name").fill("Dana")
    customer.get_by_role("textbox", name="Subject").fill("Broken zipper")
    customer.get_by_role("textbox", name="Message").fill("The zipper broke on day one.")
    customer.get_by_role("button", name="Send").click()
    expect(customer.get_by_role("status")).to_have_text("Sent.")
    # the same customer again, from a client that sends HTML (with things it must not do)
    r = customer.request.post(
        base + "/demo/email/messages",
        data={
            "from": "dana@customer.test",
            "subject": "Photo",
            "text": "See the photo.",
            "html": '<p id="mine">See the <b>photo</b>.<script>document.title="pwned"</script>'
            '<img src="https://tracker.invalid/pixel.gif" alt="pixel"></p>'
            '<div class="gmail_quote">On Monday Dana wrote:<blockquote>The zipper broke.'
            "</blockquote></div>",
        },
    )
    assert r.status == 201

    inbox = agent.get_by_role("region", name=re.compile("^Inbox"))
    expect(inbox).to_contain_text("Dana", timeout=30_000)
    inbox.get_by_text("Dana").first.click()
    agent.get_by_role("button", name="Assign", exact=True).click()
    emails = agent.get_by_role("list", name="Emails")
    expect(emails).to_contain_text("Broken zipper", timeout=30_000)
    expect(emails).to_contain_text("Photo")

    frame_el = agent.locator("iframe.email-frame").last
    sandbox = frame_el.get_attribute("sandbox") or ""
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    srcdoc = frame_el.get_attribute("srcdoc") or ""
    assert "img-src data: cid:;" in srcdoc and "<script" not in srcdoc
    body = agent.frame_locator("iframe.email-frame").last.locator("body")
    expect(body).to_contain_text("See the photo.")
    expect(body).not_to_contain_text("The zipper broke.")  # quoted: collapsed
    assert agent.title() == "Agent console"
    agent.get_by_role("button", name="Show remote images").click()
    srcdoc = agent.locator("iframe.email-frame").last.get_attribute("srcdoc") or ""
    assert "img-src data: cid: https:" in srcdoc
    agent.get_by_text("Show quoted text").last.click()
    expect(agent.frame_locator("iframe.email-frame").last.locator("body")).to_contain_text(
        "The zipper broke."
    )
    shot(agent, "console-email")

    agent.get_by_role("textbox", name="Cc", exact=True).fill("warranty@shop.test")
    box = agent.get_by_role("textbox", name="Reply")
    box.fill("Sorry about that! A new one is on its way.")
    box.press("Shift+Enter")
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("A new one is on its way.")

    customer.get_by_role("button", name="Refresh").click()
    answers = customer.get_by_role("list").last
    expect(answers).to_contain_text("A new one is on its way.", timeout=30_000)
    expect(answers).to_contain_text("Re: Photo")
