"""The agent's workspace and the supervisor's view in a real Chromium: the contact card,
notes, templates, search in a conversation, the Enter-sends preference, the Live view
with monitoring, History with a transcript and its downloads, Reports, the templates
admin screen; each screen audited with axe-core and photographed for docs/console.md."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import (
    ADMIN,
    NewPage,
    accept_offer,
    axe_audit,
    end_chat,
    login,
    open_widget,
    shot,
    start_chat,
)

pytestmark = pytest.mark.browser


def clean(page: Page, name: str, found: dict[str, list[dict[str, object]]]) -> None:
    found[name] = axe_audit(page)


def wait_offline(gateway: GatewayProcess, page: Page, name: str) -> None:
    """Until the server says this agent is offline (their last socket closed, then the
    grace period a reload is given)."""
    token = page.evaluate("sessionStorage.getItem('gw.console.token')")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        roster = httpx.get(
            gateway.base_url + "/api/console/agents",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        if any(a["name"] == name and a["status"] == "offline" for a in roster):
            return
        time.sleep(0.5)
    raise AssertionError(f"{name} never went offline")


def test_workspace_screens(new_page: NewPage, gateway: GatewayProcess) -> None:
    base = gateway.base_url
    found: dict[str, list[dict[str, object]]] = {}
    admin: Page = login(new_page(bypass_csp=True), base, ADMIN)
    admin.get_by_role("combobox", name="Status").select_option("away")
    expect(admin.get_by_role("combobox", name="Status")).to_have_value("away")

    # The admin writes a template (the module the admin section hosts).
    admin.get_by_role("link", name="Templates").click()
    admin.get_by_role("button", name="New template").click()
    admin.get_by_role("textbox", name="Collection").fill("Sales")
    admin.get_by_role("textbox", name="Name").fill("Greeting")
    admin.get_by_role("textbox", name="Text (every channel)").fill(
        "Hello {{contact.first_name}}, {{agent.first_name}} here. How can I help?"
    )
    admin.get_by_role("button", name="Save template").click()
    expect(admin.get_by_role("status").filter(has_text="Template saved.")).to_be_visible()
    expect(admin.get_by_role("heading", name="Sales")).to_be_visible()
    clean(admin, "templates admin", found)
    shot(admin, "console-templates-admin")

    agent: Page = login(new_page(bypass_csp=True), base)
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    frame = start_chat(visitor, "Lin Wu", "lin@example.com", "Where is my parcel?")
    accept_offer(agent, "Lin Wu")

    # The contact card: the form's email, not saved until the agent says so.
    card = agent.get_by_role("region", name="Contact")
    expect(card.get_by_text("Not saved: check these details")).to_be_visible()
    expect(card.get_by_role("textbox", name="Email")).to_have_value("lin@example.com")
    expect(card.get_by_role("link", name=re.compile("demo"))).to_be_visible()
    card.get_by_role("textbox", name="Phone").fill("+44 20 7946 0958")
    card.get_by_role("button", name="Save contact").click()
    expect(card.get_by_text("Saved contact", exact=True)).to_be_visible()
    expect(card.get_by_role("textbox", name="Phone")).to_have_value("+442079460958")

    # A note: kept with the conversation, never shown to the visitor.
    notes = agent.get_by_role("region", name="Notes")
    notes.get_by_role("textbox", name="New note").fill("Asked twice already: be quick")
    notes.get_by_role("button", name="Add note").click()
    expect(notes.get_by_role("list")).to_contain_text("Asked twice already")

    # Templates: Ctrl+/ in the editor, search, insert, send.
    box = agent.get_by_role("textbox", name="Reply")
    box.press("Control+/")
    dialog = agent.get_by_role("dialog", name="Templates")
    expect(dialog).to_be_visible()
    dialog.get_by_role("searchbox", name="Search templates").fill("greet")
    choice = dialog.get_by_role("button", name=re.compile("Sales · Greeting"))
    expect(choice).to_contain_text("Hello Lin, Ada here.")
    clean(agent, "templates dialog", found)
    shot(agent, "console-templates")
    choice.click()
    expect(box).to_have_value("Hello Lin, Ada here. How can I help?")
    box.press("Shift+Enter")
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("Hello Lin, Ada here.")
    frame.get_by_role("textbox", name="Message").fill("Order 1182, it is late")
    frame.get_by_role("textbox", name="Message").press("Enter")
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("Order 1182")

    # Search inside the conversation.
    agent.get_by_role("searchbox", name="Search in this conversation").fill("1182")
    expect(agent.get_by_role("status").filter(has_text="1 match")).to_be_visible()
    clean(agent, "conversation with card, notes and search", found)
    shot(agent, "console-contact-card")
    expect(frame.get_by_role("list", name="Messages")).not_to_contain_text("Asked twice")

    # The supervisor's live view, then monitoring the chat read-only.
    admin.get_by_role("link", name="Live").click()
    live = admin.get_by_role("table", name="Ongoing conversations")
    expect(live).to_contain_text("assigned · Ada (demo agent)")
    agents = admin.get_by_role("table", name="Agents")
    expect(agents).to_contain_text("25 / 100")
    clean(admin, "live view", found)
    shot(admin, "console-live")
    admin.get_by_role("button", name="Monitor Lin Wu").click()
    expect(admin.get_by_text("Monitoring Lin Wu (read only)")).to_be_visible()
    expect(admin.get_by_role("list", name="Messages")).to_contain_text("Order 1182")
    expect(admin.get_by_role("textbox", name="Reply")).to_have_count(0)
    frame.get_by_role("textbox", name="Message").fill("Still there?")
    frame.get_by_role("textbox", name="Message").press("Enter")
    expect(admin.get_by_role("list", name="Messages")).to_contain_text("Still there?")
    clean(admin, "monitoring", found)
    shot(admin, "console-monitoring")
    admin.get_by_role("button", name="Stop monitoring").click()

    # The preference: Enter sends.
    agent.get_by_role("link", name="Settings").click()
    agent.get_by_role("checkbox", name=re.compile("^Enter sends")).check()
    clean(agent, "settings", found)
    shot(agent, "console-settings")
    agent.get_by_role("link", name="Conversations").click()
    expect(agent.get_by_text("Enter sends · Shift+Enter adds a line")).to_be_visible()
    agent.get_by_role("textbox", name="Reply").fill("Yes, I am here.")
    agent.get_by_role("textbox", name="Reply").press("Enter")
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("Yes, I am here.")

    # End (asked first) and wrap up: the chat goes to History.
    end_chat(agent, "Lin Wu")
    agent.get_by_role("combobox", name="Disposition").select_option("Resolved")
    agent.get_by_role("textbox", name="Notes").fill("Parcel found")
    agent.get_by_role("button", name="Finish wrap-up").click()
    expect(
        agent.get_by_role("status").filter(has_text="Wrap-up saved for the chat with Lin Wu.")
    ).to_be_visible()

    agent.get_by_role("link", name="History").click()
    results = agent.get_by_role("table")
    expect(results).to_contain_text("Lin Wu")
    clean(agent, "history", found)
    shot(agent, "console-history")
    results.get_by_role("link", name="Lin Wu").click()
    expect(agent).to_have_url(re.compile(r"#history/cv_"))
    transcript = agent.get_by_role("list", name="Lin Wu")
    expect(transcript).to_contain_text("Order 1182, it is late")
    expect(agent.get_by_text("Asked twice already: be quick")).to_be_visible()
    expect(agent.get_by_text("Parcel found")).to_be_visible()
    with agent.expect_download() as dl:
        agent.get_by_role("button", name="Download as CSV").click()
    assert dl.value.suggested_filename.endswith(".csv")
    clean(agent, "transcript", found)
    shot(agent, "console-transcript")
    # The link opens the same transcript in another tab of the same agent.
    link = agent.get_by_role("link", name="Link to this conversation").get_attribute("href")
    assert link and "#history/cv_" in link

    # Reports, for the supervisor only.
    expect(agent.get_by_role("link", name="Reports")).to_have_count(0)
    admin.get_by_role("link", name="Reports").click()
    admin.get_by_role("combobox", name="Per").select_option("agent")
    admin.get_by_role("button", name="Show").click()
    table = admin.locator("#report-table")
    expect(table).to_contain_text("Ada (demo agent)")
    expect(admin.get_by_role("img", name="Conversations per agent")).to_be_visible()
    # Ratings are the satisfaction source: no notice; nobody rated this chat, so "—".
    expect(admin.get_by_text("Satisfaction is not available")).to_have_count(0)
    expect(table.get_by_role("row", name="Total")).to_contain_text("—")
    with admin.expect_download() as dl:
        admin.get_by_role("button", name="Download CSV").click()
    assert dl.value.suggested_filename.startswith("report-agent-")
    clean(admin, "reports", found)
    shot(admin, "console-reports")

    # Lin writes again: the card lists the first conversation, readable from there.
    frame.get_by_role("button", name="Start a new chat").click()
    start_chat(visitor, "Lin Wu", "lin@example.com", "Me again")
    accept_offer(agent, "Lin Wu")
    earlier = agent.get_by_role("region", name="Contact").get_by_role("listitem")
    expect(earlier).to_have_count(1)
    expect(earlier).to_contain_text("Ada (demo agent)")
    earlier.get_by_role("link").click()
    expect(agent).to_have_url(re.compile(r"#history/cv_.*via=cv_"))
    expect(agent.get_by_role("list", name="Lin Wu")).to_contain_text("Order 1182, it is late")

    bad = {k: v for k, v in found.items() if v}
    assert not bad, bad


def test_the_console_follows_the_chosen_language(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    page = login(new_page(locale="fr-FR"), gateway.base_url)
    expect(page.get_by_role("link", name="Historique")).to_be_visible()
    page.get_by_role("link", name="Réglages").click()
    page.get_by_role("combobox", name="Langue").select_option("en")
    expect(page.get_by_role("link", name="History")).to_be_visible()


def test_what_was_rough_in_the_console(new_page: NewPage, gateway: GatewayProcess) -> None:
    """Regressions from trying the console as an agent would."""
    base = gateway.base_url
    admin: Page = login(new_page(), base, ADMIN)
    admin.get_by_role("combobox", name="Status").select_option("away")
    expect(admin.get_by_role("combobox", name="Status")).to_have_value("away")
    # The name in a full header (every section an admin has) is one line, not three;
    # cut with an ellipsis when there is no room, the whole of it in its title.
    me = admin.locator("#me")
    expect(me).to_have_attribute("title", "Grace (demo admin)")
    assert me.evaluate("e => e.offsetHeight < 2 * parseFloat(getComputedStyle(e).fontSize)")
    agent: Page = login(new_page(), base)
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    long = "My parcel " + "is very late " * 60
    start_chat(visitor, "Kai", "kai@example.com", long)

    # A ringing chat is in the Inbox too, the tab title counts it, the dialog fits.
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    expect(ring).to_be_visible()
    box = ring.bounding_box()
    assert box is not None and box["width"] <= 1100
    inbox = agent.get_by_role("region", name=re.compile("^Inbox"))
    expect(inbox.get_by_role("button", name="Accept Kai")).to_be_visible()
    expect(agent).to_have_title(re.compile(r"^\(1\) "))
    ring.get_by_role("button", name="Reject").click()
    # The notice is a sentence, with no internal code in it.
    expect(agent.locator("#announcer")).to_have_text(
        re.compile(
            r"^(You rejected the chat with Kai\.|The chat with Kai stopped ringing: you rejected it\.)$"
        )
    )
    inbox.get_by_role("button", name="Assign Kai").click()
    expect(agent.get_by_role("heading", name="Kai", level=2)).to_be_visible()
    # The box above the messages says what it is for, not only to a screen reader.
    expect(agent.get_by_placeholder("Search in this conversation")).to_be_visible()
    # The newly assigned chat shows its last message, not "—".
    assigned = agent.get_by_role("region", name=re.compile("^Assigned to you"))
    expect(assigned).to_contain_text("My parcel is very late")

    # The transfer list says who is away, and takes a note for the receiving agent.
    agent.get_by_role("button", name="Transfer").click()
    dialog = agent.get_by_role("dialog", name="Transfer Kai")
    options = dialog.get_by_role("combobox", name="Transfer to").locator("option")
    expect(options.filter(has_text="Grace (demo admin) (away)")).to_have_count(1)
    expect(
        dialog.get_by_role("textbox", name=re.compile("^Note for the receiving agent"))
    ).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    # Once Grace is offline she is listed as such and cannot be picked.
    admin.get_by_role("button", name="Log out").click()
    wait_offline(gateway, agent, "Grace (demo admin)")
    agent.get_by_role("button", name="Transfer").click()
    offline = dialog.get_by_role("combobox", name="Transfer to").locator("option")
    offline = offline.filter(has_text="Grace (demo admin) (offline)")
    expect(offline).to_have_count(1)
    expect(offline).to_be_disabled()
    dialog.get_by_role("button", name="Cancel").click()

    # After "Send to inbox" the view closes: no "Preview is not available".
    agent.get_by_role("button", name="Send to inbox").click()
    expect(
        agent.get_by_role("status").filter(has_text="The chat with Kai is back in the Inbox.")
    ).to_be_visible()
    expect(agent.get_by_text("Preview is not available")).to_have_count(0)
    expect(agent).to_have_title(re.compile(r"Agent console$"))
