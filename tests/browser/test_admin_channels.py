"""The admin section makes touchpoints of every channel the gateway carries: the channel
first (GET /api/admin/channels), then what its settings need, secrets as password
inputs never shown back, a 422 on the field it names; and the chat editor's pre-chat
form offers hidden fields, which are never required (docs/console.md, "The admin
section"; docs/widget.md, "Information from the page")."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import ADMIN, NewPage, axe_audit
from tests.browser.test_accessibility import report
from tests.browser.test_admin_section import log_in

pytestmark = pytest.mark.browser

SID = "AC0123456789abcdef0123456789abcdef"


def _admin(base: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {login_token(base, *ADMIN)}"}


def _opened(page: Page, base: str, name: str) -> dict[str, Any]:
    """The touchpoint the page opened after its creation, as the admin API has it."""
    expect(page.get_by_role("heading", name=name, level=2)).to_be_visible()
    tp_id = page.evaluate("() => decodeURIComponent(location.hash.split('/')[1])")
    r = httpx.get(f"{base}/api/admin/touchpoints/{tp_id}", headers=_admin(base))
    assert r.status_code == 200, r.text
    tp: dict[str, Any] = r.json()
    return tp


def test_the_channels_are_the_gateways(gateway: GatewayProcess) -> None:
    base = gateway.base_url
    channels = httpx.get(base + "/api/admin/channels", headers=_admin(base)).json()
    assert [c["channel"] for c in channels] == [
        "chat",
        "sms",
        "whatsapp",
        "messenger",
        "email",
        "api",
    ]
    by = {c["channel"]: c["secret_settings"] for c in channels}
    assert by["sms"] == ["auth_token"] and by["chat"] == []
    assert set(by["email"]) == {"password", "oauth_token"}
    # the routing modes each allows (gateway/model/channels.py), offered by the screen
    modes = {c["channel"]: c["routing_modes"] for c in channels}
    assert modes["chat"] == ["flow"] and modes["sms"] == ["simplified", "dedicated", "flow"]
    assert modes["email"] == ["simplified", "flow"]
    agent = {"Authorization": f"Bearer {login_token(base, 'agent@demo.test', 'demo-agent')}"}
    assert httpx.get(base + "/api/admin/channels", headers=agent).status_code == 403


def test_an_sms_touchpoint_made_in_the_admin_section(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    page: Page = new_page(bypass_csp=True)  # for axe-core's script
    log_in(page, base)
    page.get_by_role("link", name="New touchpoint", exact=True).click()
    choices = page.get_by_role("list", name="New touchpoint")
    for name in ("Chat (website)", "SMS", "WhatsApp", "Messenger", "Email", "Integration API"):
        expect(choices.get_by_role("link", name=name, exact=True)).to_be_visible()
    found = {"channel choice": axe_audit(page)}
    choices.get_by_role("link", name="SMS", exact=True).click()
    expect(page.get_by_role("heading", name="New SMS touchpoint", level=2)).to_be_visible()

    page.get_by_role("textbox", name="Name (internal)").fill("Support line")
    page.get_by_role("textbox", name="Name contacts see").fill("Shop")
    number = page.get_by_role("textbox", name="Phone number")
    number.fill("0415 555 0199")  # not E.164: refused on its field, in the API's words
    page.get_by_role("textbox", name="Account SID").fill(SID)
    token = page.get_by_label("Auth token")
    expect(token).to_have_attribute("type", "password")
    token.fill("twilio-secret-token")
    # An SMS number is texted from first unless told otherwise; routed to one agent, who
    # is asked only for dedicated routing (left unchosen: refused on its field).
    direction = page.get_by_role("combobox", name="Direction")
    expect(direction).to_have_value("both")
    routing = page.get_by_role("combobox", name="Routing")
    agent = page.get_by_role("combobox", name="Dedicated agent")
    expect(agent).to_be_hidden()
    routing.select_option("dedicated")
    expect(agent).to_be_visible()
    found["sms, dedicated"] = axe_audit(page)
    page.get_by_role("button", name="Create touchpoint").click()
    expect(number).to_have_attribute("aria-invalid", "true")
    expect(number).to_have_accessible_description(re.compile("E.164"))
    expect(page.locator("ul.problems")).to_contain_text("settings.number")
    expect(agent).to_have_attribute("aria-invalid", "true")
    expect(agent).to_have_accessible_description(re.compile("names its agent"))
    found["sms with errors"] = axe_audit(page)

    number.fill("+1 415 555 0199")
    agent.select_option(label="Ada (demo agent) · agent@demo.test")
    page.get_by_role("button", name="Create touchpoint").click()
    tp = _opened(page, base, "Support line")
    assert tp["channel"] == "sms" and tp["active"] is False
    assert tp["display_name"] == "Shop" and tp["queue_ids"] == ["q_support"]
    assert tp["direction"] == "both"
    assert tp["routing_mode"] == "dedicated" and tp["dedicated_agent_id"] == "ag_demo"
    assert tp["settings"] == {
        "provider": "twilio",
        "number": "+14155550199",
        "account_sid": SID,
        "api_base": "https://api.twilio.com",
        "auth_token_set": True,
    }
    # It opens in the editor of its channel, inactive; the secret is never on the page.
    expect(page.get_by_role("button", name="Activate")).to_be_visible()
    expect(page.get_by_role("textbox", name="Name (internal)")).to_have_value("Support line")
    assert "twilio-secret-token" not in page.content()
    # Its editor changes direction and routing (a merge patch: the agent is cleared).
    expect(direction).to_have_value("both")
    expect(routing).to_have_value("dedicated")
    expect(agent).to_have_value("ag_demo")
    direction.select_option("inbound")
    routing.select_option("simplified")
    expect(agent).to_be_hidden()
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#announcer")).to_have_text("Changes saved.")
    r = httpx.get(f"{base}/api/admin/touchpoints/{tp['id']}", headers=_admin(base))
    stored = r.json()
    assert (stored["direction"], stored["routing_mode"], stored["dedicated_agent_id"]) == (
        "inbound",
        "simplified",
        None,
    )
    assert stored["settings"]["auth_token_set"] is True
    page.get_by_role("link", name="All touchpoints").click()
    row = (
        page.get_by_role("table", name="Touchpoints")
        .get_by_role("row")
        .filter(has_text="Support line")
    )
    expect(row).to_contain_text("+14155550199")
    expect(row).to_contain_text("Inactive")

    bad = {screen: report(v) for screen, v in found.items() if v}
    assert not bad, "\n".join(f"{screen}:\n{text}" for screen, text in bad.items())


def test_an_email_touchpoint_made_in_the_admin_section(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    page: Page = new_page()
    log_in(page, base)
    page.goto(base + "/admin#touchpoints/new/email")
    expect(page.get_by_role("heading", name="New Email touchpoint", level=2)).to_be_visible()
    page.get_by_role("textbox", name="Name (internal)").fill("Orders mail")
    address = page.get_by_role("textbox", name="Mailbox address")
    address.fill("not an address")
    # The OAuth2 token is asked for only when the mailbox signs in with one.
    oauth = page.get_by_label("OAuth2 access token")
    expect(oauth).to_be_hidden()
    page.get_by_role("combobox", name="Signs in with").select_option("oauth2")
    expect(oauth).to_be_visible()
    expect(oauth).to_have_attribute("type", "password")
    page.get_by_role("combobox", name="Signs in with").select_option("password")
    expect(oauth).to_be_hidden()
    password = page.get_by_role("form", name="New Email touchpoint").get_by_label("Password")
    expect(password).to_have_attribute("type", "password")
    password.fill("mail-secret-password")
    page.get_by_role("textbox", name="IMAP host").fill("127.0.0.1")
    page.get_by_role("spinbutton", name="IMAP port").fill("1143")
    page.get_by_role("combobox", name="IMAP security").select_option("none")
    smtp_host = page.get_by_role("textbox", name="SMTP host")
    smtp_host.fill("smtp.example.net")
    page.get_by_role("combobox", name="SMTP security").select_option("none")
    # A mailbox that sends too (the admins' notices, chats' follow-ups go through it).
    direction = page.get_by_role("combobox", name="Direction")
    expect(direction).to_have_value("both")
    direction.select_option("both")
    routing = page.get_by_role("combobox", name="Routing")
    # email allows no dedicated agent: not offered
    expect(routing.locator("option")).to_have_text([re.compile("Simplified"), re.compile("Flow")])
    routing.select_option("simplified")
    page.get_by_role("button", name="Create touchpoint").click()
    # Every problem at once, each on its field.
    expect(address).to_have_attribute("aria-invalid", "true")
    expect(address).to_have_accessible_description(re.compile("valid email address"))
    smtp_security = page.get_by_role("combobox", name="SMTP security")
    expect(smtp_security).to_have_attribute("aria-invalid", "true")
    expect(smtp_security).to_have_accessible_description(re.compile("loopback"))

    address.fill("Orders@Shop.example")
    smtp_host.fill("127.0.0.1")
    page.get_by_role("spinbutton", name="SMTP port").fill("1025")
    page.get_by_role("button", name="Create touchpoint").click()
    tp = _opened(page, base, "Orders mail")
    assert tp["channel"] == "email" and tp["active"] is False
    s = tp["settings"]
    assert s["address"] == "orders@shop.example" and s["auth"] == "password"
    assert s["imap"] == {"host": "127.0.0.1", "port": 1143, "security": "none"}
    assert s["smtp"] == {"host": "127.0.0.1", "port": 1025, "security": "none"}
    assert s["folder"] == "INBOX" and s["sent_folder"] == "Sent"
    assert s["password_set"] is True and s["oauth_token_set"] is False
    assert "password" not in s and "oauth_token" not in s
    assert tp["direction"] == "both" and tp["routing_mode"] == "simplified"
    assert tp["dedicated_agent_id"] is None
    expect(page.get_by_role("region", name="Connection")).to_be_visible()
    assert "mail-secret-password" not in page.content()
    # It sends, so a chat touchpoint may answer and send transcripts through it.
    page.goto(base + "/admin#touchpoints/new/chat")
    expect(
        page.get_by_role("combobox", name="Mailbox for answers and transcripts").locator(
            "option", has_text="orders@shop.example"
        )
    ).to_have_count(1)


def test_a_hidden_form_field_is_never_required(new_page: NewPage, gateway: GatewayProcess) -> None:
    base = gateway.base_url
    page: Page = new_page(bypass_csp=True)
    log_in(page, base)
    page.get_by_role("link", name="New touchpoint", exact=True).click()
    page.get_by_role("list", name="New touchpoint").get_by_role(
        "link", name="Chat (website)"
    ).click()
    expect(page.get_by_role("heading", name="New chat touchpoint", level=2)).to_be_visible()
    page.get_by_role("textbox", name="Name (internal)").fill("Plans site")
    page.get_by_role("textbox", name="Website domain").fill("plans.example")

    page.get_by_role("button", name="Add a field").click()
    first = page.get_by_role("group", name="Other field 1")
    first.get_by_role("textbox", name="Field name").fill("order")
    first.get_by_role("textbox", name="Label").fill("Order number")
    first.get_by_role("checkbox", name="Required").check()
    page.get_by_role("button", name="Add a field").click()
    field = page.get_by_role("group", name="Other field 2")
    field.get_by_role("textbox", name="Field name").fill("plan")
    field.get_by_role("textbox", name="Label").fill("Plan")
    required = field.get_by_role("checkbox", name="Required")
    required.check()
    kind = field.get_by_role("combobox", name="Kind")
    expect(field.get_by_role("textbox", name="Options, one per line")).to_be_hidden()
    kind.select_option("select")
    options = field.get_by_role("textbox", name="Options, one per line")
    expect(options).to_be_visible()
    # A choice without options would leave visitors only the empty placeholder: refused
    # by the server, on the row's options.
    page.get_by_role("button", name="Create touchpoint").click()
    expect(options).to_have_attribute("aria-invalid", "true")
    expect(options).to_have_accessible_description(re.compile("at least one option"))
    # Hidden: the page fills it, so "Required" (and options) are not offered.
    kind.select_option("hidden")
    expect(required).to_be_hidden()
    expect(field.get_by_role("textbox", name="Options, one per line")).to_be_hidden()
    found = {"form editor": axe_audit(page)}
    page.get_by_role("button", name="Create touchpoint").click()
    tp = _opened(page, base, "Plans site")
    assert [
        (f["name"], f["label"], f["kind"], f["required"], f["options"]) for f in tp["form"]
    ] == [
        ("order", "Order number", "text", True, []),
        ("plan", "Plan", "hidden", False, []),
    ]

    # Read back in the editor; a refused field name is shown on its row.
    field = page.get_by_role("group", name="Other field 2")
    expect(field.get_by_role("combobox", name="Kind")).to_have_value("hidden")
    expect(field.get_by_role("checkbox", name="Required")).to_be_hidden()
    name = field.get_by_role("textbox", name="Field name")
    name.fill("the plan")
    page.get_by_role("button", name="Save changes").click()
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_accessible_description(re.compile("letters, digits"))
    name.fill("plan")
    page.get_by_role("group", name="Other field 1").get_by_role(
        "button", name="Remove this field"
    ).click()
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#announcer")).to_have_text("Changes saved.")
    only = page.get_by_role("group", name="Other field 1")
    expect(only.get_by_role("textbox", name="Field name")).to_have_value("plan")
    expect(only.get_by_role("textbox", name="Field name")).not_to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.get_by_role("group", name="Other field 2")).to_have_count(0)
    stored = httpx.get(f"{base}/api/admin/touchpoints/{tp['id']}", headers=_admin(base)).json()
    assert [(f["name"], f["kind"], f["required"]) for f in stored["form"]] == [
        ("plan", "hidden", False)
    ]
    bad = {screen: report(v) for screen, v in found.items() if v}
    assert not bad, "\n".join(f"{screen}:\n{text}" for screen, text in bad.items())
