"""The messaging channels in the browser, as ./scripts/serve runs them: the provider
emulators on loopback, the demo's SMS, WhatsApp and Messenger touchpoints, the phone
page playing the contact, and the console's channel views (avatars, segment count,
session-window countdown, locked editor, opt-out notice)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from channels import phone
from devkit import services
from tests.browser.conftest import ADMIN, NewPage, axe_audit, login, shot
from tests.browser.test_accessibility import report
from tests.browser.test_admin_section import log_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[services.GatewayProcess, dict[str, str]]]:
    """The demo as ./scripts/serve runs it: emulators configured for a gateway's port."""
    port, *others = services.free_ports(4)
    ports = dict(zip(("twilio", "whatsapp", "messenger"), others, strict=True))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devkit.emulators",
            *(a for n, p in ports.items() for a in (f"--{n}", str(p))),
            "--demo-gateway",
            f"http://127.0.0.1:{port}",
        ],
        cwd=services.ROOT,
    )
    try:
        for p in ports.values():
            services.wait_port(p, proc=proc)
        urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
        env = {
            "GATEWAY_DEMO": "1",
            "GATEWAY_DEMO_PROVIDERS": ",".join(f"{n}={u}" for n, u in urls.items()),
        }
        node = services.start_gateway(env, port=port)
        try:
            yield node, urls
        finally:
            node.stop()
    finally:
        proc.terminate()
        proc.wait(10)


def phone_page(new_page: NewPage, base: str, app: str) -> Page:
    page = new_page()
    page.goto(base + "/demo/phone")
    page.get_by_role("combobox", name="App").select_option(label=app)
    return page


def text(page: Page, message: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(message)
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("list", name="Thread")).to_contain_text(message)


def take(agent: Page, name: str) -> None:
    row = agent.get_by_role("listitem").filter(has_text=name).first
    row.get_by_role("button", name=f"Assign {name}").click()
    expect(agent.get_by_role("heading", name=name, level=2)).to_be_visible()


def test_sms_from_the_phone_page_segments_and_opt_out(
    new_page: NewPage, demo: tuple[services.GatewayProcess, dict[str, str]]
) -> None:
    node, _ = demo
    template = {
        "collection": "Support",
        "name": "Tracking",
        "content": {
            "default": "Your order is on its way, {{contact.name}}.",
            "sms": "Track it at shop.example/t - reply to {{contact.phone}}",
        },
    }
    token = services.login_token(node.base_url, *ADMIN)
    httpx.post(
        node.base_url + "/api/admin/templates",
        json=template,
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()
    agent = login(new_page(), node.base_url)
    contact = phone_page(new_page, node.base_url, "SMS")
    contact.get_by_role("textbox", name="Your number").fill("+12025550143")
    contact.get_by_role("textbox", name="Your number").press("Tab")
    text(contact, "Is my order shipped?")
    take(agent, "+12025550143")
    box = agent.get_by_role("textbox", name="Reply")
    box.fill("Yes: it left this morning.")
    expect(agent.locator("#segments")).to_have_text("26 characters · 1 SMS segment (GSM-7)")
    box.fill("x" * 161)
    expect(agent.locator("#segments")).to_have_text("161 characters · 2 SMS segments (GSM-7)")
    box.fill("Olá ç 😀")
    expect(agent.locator("#segments")).to_contain_text("UCS-2")
    # a template's SMS text, rendered for this contact, goes into the editor and counts
    box.fill("")
    box.press("Control+/")
    dialog = agent.get_by_role("dialog", name="Templates")
    dialog.get_by_role("searchbox", name="Search templates").fill("tracking")
    dialog.get_by_role("button", name=re.compile("Tracking")).click()
    expect(box).to_have_value("Track it at shop.example/t - reply to +12025550143")
    expect(agent.locator("#segments")).to_have_text("50 characters · 1 SMS segment (GSM-7)")
    box.fill("Yes: it left this morning.")
    box.press("Shift+Enter")
    # the agent's message reaches the phone, and its delivery state the console
    expect(contact.get_by_role("list", name="Thread")).to_contain_text(
        "it left this morning", timeout=15_000
    )
    expect(
        agent.get_by_role("list", name="Messages")
        .get_by_role("listitem")
        .filter(has_text="it left this morning")
    ).to_contain_text("Delivered", timeout=15_000)
    shot(agent, "console-sms")
    # STOP: the confirmation reaches the phone, the console locks the editor and says why
    text(contact, "Stop")
    expect(contact.get_by_role("list", name="Thread")).to_contain_text(
        "unsubscribed", timeout=15_000
    )
    expect(agent.locator("#lock-notice")).to_contain_text("texted STOP", timeout=15_000)
    expect(box).to_be_disabled()
    expect(agent.get_by_role("button", name="Templates")).to_be_disabled()
    shot(agent, "console-sms-opted-out")
    shot(contact, "phone-sms")
    text(contact, "START")
    expect(box).to_be_enabled(timeout=15_000)


def test_mms_outside_us_ca_au_shows_why_attachments_are_disabled(
    new_page: NewPage, demo: tuple[services.GatewayProcess, dict[str, str]]
) -> None:
    node, _ = demo
    agent = login(new_page(), node.base_url)
    contact = phone_page(new_page, node.base_url, "SMS")
    contact.get_by_role("textbox", name="Your number").fill("+447911123456")
    contact.get_by_role("textbox", name="Your number").press("Tab")
    text(contact, "Hello from London")
    take(agent, "+447911123456")
    expect(agent.locator("#attachments-off")).to_contain_text(
        re.compile(r"Attachments disabled: MMS .*US, CA or AU")
    )


def test_an_agent_texts_first_from_the_new_conversation_dialog(
    new_page: NewPage, demo: tuple[services.GatewayProcess, dict[str, str]]
) -> None:
    node, _ = demo
    agent = login(new_page(), node.base_url)
    contact = phone_page(new_page, node.base_url, "SMS")
    contact.get_by_role("textbox", name="Your number").fill("+12025550177")
    contact.get_by_role("textbox", name="Your number").press("Tab")
    agent.get_by_role("button", name="New conversation").click()
    dialog = agent.get_by_role("dialog", name="New conversation")
    dialog.get_by_label("Touchpoint").select_option(value=phone.DEMO_IDS["twilio"])
    expect(dialog.get_by_label("Subject")).to_be_hidden()  # an email's only
    dialog.get_by_label("To", exact=True).fill("not a number")
    dialog.get_by_label("Message").fill("Your order is ready for pickup.")
    dialog.get_by_role("button", name="Send").click()
    expect(dialog.get_by_role("alert")).to_contain_text("address")
    dialog.get_by_label("To", exact=True).fill("+12025550177")
    dialog.get_by_role("button", name="Send").click()
    expect(dialog).to_be_hidden()
    # the conversation is the agent's and open; the phone gets the text
    expect(agent.get_by_role("heading", name="+12025550177", level=2)).to_be_visible()
    expect(contact.get_by_role("list", name="Thread")).to_contain_text(
        "Your order is ready for pickup.", timeout=15_000
    )
    text(contact, "On my way")
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("On my way", timeout=15_000)


def test_whatsapp_window_countdown_and_locked_editor(
    new_page: NewPage, demo: tuple[services.GatewayProcess, dict[str, str]]
) -> None:
    node, urls = demo
    agent = login(new_page(), node.base_url)
    contact = phone_page(new_page, node.base_url, "WhatsApp")
    contact.get_by_role("textbox", name="Your WhatsApp name").fill("Ana Lima")
    contact.get_by_role("textbox", name="Your WhatsApp name").press("Tab")
    text(contact, "Olá, preciso de ajuda")
    avatar = agent.locator(".avatar.ch-whatsapp").filter(has_text="AL").first
    expect(avatar).to_be_visible()
    expect(avatar.locator(".badge")).to_have_css("background-color", "rgb(18, 140, 74)")  # green
    take(agent, "Ana Lima")
    expect(agent.locator("#window-left")).to_have_text(
        re.compile(r"Session window: 23 h 59 min left")
    )
    expect(agent.get_by_role("link", name="wa.me/14155550111")).to_be_visible()
    agent.get_by_role("textbox", name="Reply").fill("Olá Ana!")
    agent.get_by_role("textbox", name="Reply").press("Shift+Enter")
    expect(contact.get_by_role("list", name="Thread")).to_contain_text("Olá Ana!", timeout=15_000)
    # the phone page read it: the console shows it read
    expect(
        agent.get_by_role("list", name="Messages")
        .get_by_role("listitem")
        .filter(has_text="Olá Ana!")
    ).to_contain_text("Read", timeout=15_000)
    shot(agent, "console-whatsapp")
    # another contact whose last message is 25 hours old: the editor is locked
    httpx.post(
        urls["whatsapp"] + "/_emulator/phone/send",
        json={
            "phone_number_id": phone.WHATSAPP["phone_number_id"],
            "from": "5511987654321",
            "name": "Bruno Costa",
            "body": "Sent yesterday",
            "timestamp": time.time() - 25 * 3600,
        },
    ).raise_for_status()
    take(agent, "Bruno Costa")
    expect(agent.locator("#lock-notice")).to_contain_text("session window has closed")
    expect(agent.get_by_role("textbox", name="Reply")).to_be_disabled()
    expect(agent.locator("#window-left")).to_be_hidden()
    shot(agent, "console-whatsapp-locked")
    # the contact writes again: the window reopens and the editor unlocks
    httpx.post(
        urls["whatsapp"] + "/_emulator/phone/send",
        json={
            "phone_number_id": phone.WHATSAPP["phone_number_id"],
            "from": "5511987654321",
            "name": "Bruno Costa",
            "body": "Still there?",
        },
    ).raise_for_status()
    expect(agent.get_by_role("textbox", name="Reply")).to_be_enabled(timeout=15_000)
    expect(agent.locator("#window-left")).to_contain_text("23 h 59 min")


def test_messenger_from_the_phone_page(
    new_page: NewPage, demo: tuple[services.GatewayProcess, dict[str, str]]
) -> None:
    node, _ = demo
    agent = login(new_page(), node.base_url)
    contact = phone_page(new_page, node.base_url, "Messenger")
    contact.get_by_role("textbox", name="First name").fill("Jane")
    contact.get_by_role("textbox", name="Last name").fill("Doe")
    contact.get_by_role("textbox", name="Last name").press("Tab")
    text(contact, "Do you ship to Canada?")
    avatar = agent.locator(".avatar.ch-messenger").filter(has_text="JD").first
    expect(avatar).to_be_visible()
    expect(avatar.locator(".badge")).to_have_css("background-color", "rgb(8, 102, 255)")  # blue
    take(agent, "Jane Doe")
    expect(agent.locator("#window-left")).to_have_text(re.compile(r"Session window: 6 d 23 h left"))
    agent.get_by_role("textbox", name="Reply").fill("We do!")
    agent.get_by_role("textbox", name="Reply").press("Shift+Enter")
    expect(contact.get_by_role("list", name="Thread")).to_contain_text("We do!", timeout=15_000)
    shot(contact, "phone-messenger")


def test_an_unverified_toll_free_number_fails_to_send_and_the_admins_see_it(
    new_page: NewPage, demo: tuple[services.GatewayProcess, dict[str, str]]
) -> None:
    node, urls = demo
    number = phone.SMS["number"]
    configure = urls["twilio"] + "/_emulator/configure"
    httpx.post(
        configure,
        json={
            "numbers": {
                number: {
                    "account": phone.SMS["account_sid"],
                    "status": "unverified_tollfree",
                    "sms_url": f"{node.base_url}/webhooks/sms/{phone.DEMO_IDS['twilio']}",
                }
            }
        },
    ).raise_for_status()
    try:
        admin = login(new_page(), node.base_url, ("admin@demo.test", "demo-admin"))
        agent = login(new_page(), node.base_url)
        contact = phone_page(new_page, node.base_url, "SMS")
        contact.get_by_role("textbox", name="Your number").fill("+12025550188")
        contact.get_by_role("textbox", name="Your number").press("Tab")
        text(contact, "Hello?")
        take(agent, "+12025550188")
        agent.get_by_role("textbox", name="Reply").fill("Hi there")
        agent.get_by_role("textbox", name="Reply").press("Shift+Enter")
        mine = (
            agent.get_by_role("list", name="Messages")
            .get_by_role("listitem")
            .filter(has_text="Hi there")
        )
        expect(mine).to_contain_text("Failed to send message", timeout=15_000)
        expect(mine).to_contain_text("toll-free number is not verified")
        banner = admin.get_by_role("region", name="Admin notices")
        expect(banner).to_contain_text("toll-free", timeout=15_000)
        expect(banner).to_contain_text("error 30032")
        shot(admin, "console-admin-notice")

        # The admin section shows the SMS touchpoint as one: its channel and number, the
        # names and queues every channel shares, its notices; no website fields, and
        # saving keeps the provider settings it does not show.
        section = new_page(bypass_csp=True)
        log_in(section, node.base_url, ADMIN)
        row = (
            section.get_by_role("table", name="Touchpoints")
            .get_by_role("row")
            .filter(has_text="Demo SMS line")
        )
        expect(row).to_contain_text("SMS")
        expect(row).to_contain_text(number)
        row.get_by_role("link", name="Demo SMS line").click()
        expect(section.get_by_role("heading", name="Demo SMS line", level=2)).to_be_visible()
        expect(section.get_by_role("textbox", name="Website domain")).to_have_count(0)
        expect(section.get_by_role("heading", name="Put it on your site")).to_have_count(0)
        notices = section.get_by_role("region", name="Notices")
        expect(notices).to_contain_text("toll-free")
        section.get_by_role("textbox", name="Name contacts see").fill("Demo Shop")
        section.get_by_role("button", name="Save changes").click()
        expect(section.get_by_role("status")).to_contain_text("Changes saved.")
        expect(section.get_by_role("textbox", name="Name contacts see")).to_have_value("Demo Shop")
        expect(section.get_by_text(f"SMS · {number}.")).to_be_visible()
        assert not (found := axe_audit(section)), report(found)
        shot(section, "admin-sms-touchpoint")
    finally:
        httpx.post(
            configure,
            json={
                "numbers": {
                    number: {
                        "account": phone.SMS["account_sid"],
                        "status": "ok",
                        "sms_url": f"{node.base_url}/webhooks/sms/{phone.DEMO_IDS['twilio']}",
                    }
                }
            },
        ).raise_for_status()
