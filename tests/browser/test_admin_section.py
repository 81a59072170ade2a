"""The admin section (/admin), by role and accessible name, with an axe-core audit of
every screen: an owner registers their site as a touchpoint without curl, copies its
absolute snippet, asks whether a page matches, sees the sites refused, and manages
queues, agents, dispositions and settings."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess, login_token
from tests.browser.conftest import ADMIN, AGENT, NewPage, axe_audit, shot
from tests.browser.test_accessibility import report

pytestmark = pytest.mark.browser


def log_in(page: Page, base: str, who: tuple[str, str] = ADMIN) -> None:
    page.goto(base + "/admin")
    page.get_by_role("textbox", name="Email", exact=True).fill(who[0])
    page.get_by_role("textbox", name="Password").fill(who[1])
    page.get_by_role("button", name="Log in").click()


def test_an_agent_is_not_let_in(new_page: NewPage, gateway: GatewayProcess) -> None:
    page: Page = new_page()
    log_in(page, gateway.base_url, AGENT)
    expect(page.get_by_role("alert")).to_contain_text("is not an admin")
    expect(page.get_by_role("navigation", name="Admin sections")).to_be_hidden()


def test_a_site_registered_and_managed_without_curl(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    page: Page = new_page(bypass_csp=True, permissions=["clipboard-read", "clipboard-write"])
    page.on("dialog", lambda d: d.accept())
    page.goto(base + "/admin")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    found = {"admin login": axe_audit(page)}
    log_in(page, base)
    nav = page.get_by_role("navigation", name="Admin sections")
    expect(nav.get_by_role("link", name="Touchpoints")).to_have_attribute("aria-current", "page")
    table = page.get_by_role("table", name="Touchpoints")
    expect(table).to_contain_text("Demo site (127.0.0.1)")
    found["touchpoints"] = axe_audit(page)

    # A new chat touchpoint: a bad domain is refused on its field, with the API's words.
    page.get_by_role("link", name="New chat touchpoint").click()
    page.get_by_role("textbox", name="Name (internal)").fill("Shop (EN)")
    page.get_by_role("textbox", name="Name visitors see").fill("Shop")
    domain = page.get_by_role("textbox", name="Website domain")
    domain.fill("shop.example/cart")
    page.get_by_role("combobox", name="Email").select_option("required")
    page.get_by_role("button", name="Create touchpoint").click()
    expect(domain).to_have_attribute("aria-invalid", "true")
    expect(domain).to_have_accessible_description(re.compile("subdirectories are not supported"))
    found["touchpoint editor with errors"] = axe_audit(page)
    domain.fill("shop.example")
    page.get_by_role("textbox", name="Monday").fill("09:00-18:00")
    page.get_by_role("button", name="Create touchpoint").click()
    expect(page.get_by_role("heading", name="Shop (EN)", level=2)).to_be_visible()

    # Its snippet, absolute, copied with one button.
    script = page.get_by_role("textbox", name=re.compile("^Script"))
    expect(script).to_have_value(
        re.compile(
            rf'^<script src="{re.escape(base)}/widget/loader\.js" data-touchpoint="tp_[^"]+" async></script>$'
        )
    )
    page.get_by_role("button", name="Copy").first.click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied == script.input_value()
    tp_id = re.search(r'data-touchpoint="([^"]+)"', copied).group(1)  # type: ignore[union-attr]

    # Does this page match? The gateway's own matcher answers.
    address = page.get_by_role("textbox", name="Page address")
    address.fill("https://www.shop.example/cart")
    page.get_by_role("button", name="Check the page").click()
    result = page.get_by_role("status").filter(has_text="match")
    expect(result).to_contain_text("It matches")
    address.fill("https://evilshop.example/")
    page.get_by_role("button", name="Check the page").click()
    expect(result).to_contain_text("It does not match")

    # Activated; a site that loads its snippet elsewhere shows up as refused.
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("button", name="Deactivate")).to_be_visible()
    httpx.get(
        base + "/widget/check",
        params={"touchpoint": tp_id, "page": "https://copycat.example/"},
        headers={"Origin": "https://copycat.example"},
    )
    page.reload()
    refused = page.get_by_role("region", name="Sites refused recently")
    expect(refused).to_contain_text("https://copycat.example")
    expect(page.get_by_role("region", name="Satisfaction")).to_contain_text("No rating yet")
    found["touchpoint with snippet"] = axe_audit(page)
    page.get_by_role("heading", name="State").scroll_into_view_if_needed()
    page.evaluate(
        "() => document.getElementById('section').scrollBy(0, document.getElementById('state-h').getBoundingClientRect().top - 20)"
    )
    shot(page, "admin-touchpoint")

    # What was saved is what the API has: opening hours holding chats outside them.
    token = login_token(base, *ADMIN)
    tp = httpx.get(
        f"{base}/api/admin/touchpoints/{tp_id}", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert tp["active"] and tp["display_name"] == "Shop" and tp["queue_ids"] == ["q_support"]
    assert tp["flow"]["calendar"]["hours"] == {"mon": ["09:00-18:00"]}
    assert tp["flow"]["rules"][0]["then"]["acceptance"] == "hold"
    assert [(f["name"], f["required"]) for f in tp["form"]] == [("email", True)]

    # Queues.
    nav.get_by_role("link", name="Queues").click()
    page.get_by_role("textbox", name="New queue's name").fill("Billing")
    page.get_by_role("button", name="Add queue").click()
    expect(page.get_by_role("textbox", name="Name of queue Billing")).to_be_visible()
    found["queues"] = axe_audit(page)

    # Agents.
    nav.get_by_role("link", name="Agents").click()
    page.get_by_role("link", name="New agent").click()
    page.get_by_role("textbox", name="Email").fill("bea@shop.example")
    page.get_by_role("textbox", name="Name").fill("Bea")
    page.get_by_role("group", name="Queues").get_by_role("checkbox", name="Billing").check()
    page.get_by_role("textbox", name="Password").fill("a long password")
    found["agent editor"] = axe_audit(page)
    page.get_by_role("button", name="Create agent").click()
    agents = page.get_by_role("table", name="Agents")
    expect(agents).to_contain_text("bea@shop.example")
    found["agents"] = axe_audit(page)

    # Dispositions.
    nav.get_by_role("link", name="Dispositions").click()
    new_set = page.get_by_role("form", name="New disposition set")
    new_set.get_by_role("textbox", name="Set name").fill("Sales")
    new_set.get_by_role("textbox", name=re.compile("one per line")).fill("Won\nLost")
    new_set.get_by_role("button", name="Add set").click()
    expect(page.get_by_role("form", name="Disposition set Sales")).to_be_visible()
    found["dispositions"] = axe_audit(page)

    # Settings: idle chats close after 10 minutes.
    nav.get_by_role("link", name="Settings").click()
    idle = page.get_by_role("spinbutton", name=re.compile("Close idle chats after"))
    expect(idle).to_have_value("15")
    idle.fill("10")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_have_text("Settings saved.")
    found["settings"] = axe_audit(page)
    settings = httpx.get(
        base + "/api/admin/settings", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert settings["idle_close_after"] == 600

    bad = {screen: report(v) for screen, v in found.items() if v}
    assert not bad, "\n".join(f"{screen}:\n{text}" for screen, text in bad.items())
