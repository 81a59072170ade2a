"""What an agent has typed or chosen and not sent outlives the console's redraws
(docs/console.md, "Drafts"): a reconnect's snapshot, coming back from History, another
conversation opened in between, a colleague's note. And what was asked on a socket that
dropped before its answer is said after the reconnect, not left pending for good; a
double click on Finish wrap-up sends it once; a template chosen across a reconnect goes
into the editor on screen; the ringing dialog counts the chats that queue behind it."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from devkit import services
from tests.browser.conftest import (
    ADMIN,
    Blip,
    HeldFrames,
    NewPage,
    accept_offer,
    end_chat,
    login,
    open_widget,
    start_chat,
)
from tests.browser.test_actions import set_status
from tests.poll import until_page

pytestmark = pytest.mark.browser


def chat(new_page: NewPage, base: str, agent: Page, name: str) -> None:
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    start_chat(visitor, name, f"{name.lower()}@example.com", f"Hello, {name} here.")
    accept_offer(agent, name)


def open_row(agent: Page, name: str) -> None:
    agent.locator("#assigned-list button.open", has_text=name).click()
    expect(agent.get_by_role("heading", name=name, level=2)).to_be_visible()


def reconnect(agent: Page, blip: Blip) -> None:
    blip.start()
    expect(agent.get_by_role("status").filter(has_text="Reconnecting…")).to_be_visible()
    blip.over()
    expect(agent.get_by_role("status").filter(has_text="Connected")).to_be_visible(timeout=30_000)


def test_a_reply_being_written_outlives_redraws(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    base = node.base_url
    agent: Page = new_page()
    blip = Blip(agent, "**/ws/agent")
    login(agent, base)
    chat(new_page, base, agent, "Dana")
    chat(new_page, base, agent, "Eli")
    open_row(agent, "Dana")
    box = agent.get_by_role("textbox", name="Reply")
    box.fill("Your refund went out on")

    reconnect(agent, blip)  # the snapshot draws the conversation again
    expect(box).to_have_value("Your refund went out on")
    agent.get_by_role("link", name="History").click()
    agent.get_by_role("link", name="Conversations").click()
    expect(box).to_have_value("Your refund went out on")
    open_row(agent, "Eli")
    expect(box).to_have_value("")  # each conversation its own
    open_row(agent, "Dana")
    expect(box).to_have_value("Your refund went out on")
    box.press("Shift+Enter")  # sent: the draft goes with it
    expect(agent.get_by_role("list", name="Messages")).to_contain_text("Your refund went out on")
    open_row(agent, "Eli")
    open_row(agent, "Dana")
    expect(box).to_have_value("")


def test_the_wrap_up_form_outlives_a_reconnect_and_a_double_click_sends_once(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    base = node.base_url
    agent: Page = new_page()
    sent: list[str] = []
    agent.on(
        "websocket",
        lambda ws: ws.on("framesent", lambda f: sent.append(f if isinstance(f, str) else "")),
    )
    blip = Blip(agent, "**/ws/agent")
    login(agent, base)
    chat(new_page, base, agent, "Fay")
    end_chat(agent, "Fay")
    wrap = agent.get_by_role("form", name="Wrap-up")
    wrap.get_by_role("textbox", name="Notes").fill("Wants a call on Monday")
    wrap.get_by_role("combobox", name="Disposition").select_option("Follow-up")

    reconnect(agent, blip)
    expect(wrap.get_by_role("textbox", name="Notes")).to_have_value("Wants a call on Monday")
    expect(wrap.get_by_role("combobox", name="Disposition")).to_have_value("Follow-up")
    wrap.get_by_role("button", name="Finish wrap-up").dblclick()
    expect(agent.get_by_role("status").filter(has_text="Wrap-up saved")).to_be_visible()
    wrapups = [f for f in sent if f and json.loads(f).get("type") == "wrapup"]
    assert len(wrapups) == 1, wrapups
    assert json.loads(wrapups[0])["disposition"] == "Follow-up"
    expect(agent.locator("#conv .alert")).to_have_count(0)


def test_a_note_being_written_outlives_a_colleagues_note(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    base = node.base_url
    agent: Page = login(new_page(), base)
    chat(new_page, base, agent, "Gus")
    # The same agent's other console adds a note: a `note` frame draws the notes again.
    other: Page = login(new_page(), base)
    open_row(other, "Gus")
    mine = agent.get_by_role("region", name="Notes").get_by_role("textbox", name="New note")
    mine.fill("Gus asked about the")
    notes = other.get_by_role("region", name="Notes")
    notes.get_by_role("textbox", name="New note").fill("Prefers email")
    notes.get_by_role("button", name="Add note").click()
    expect(agent.get_by_role("region", name="Notes").get_by_role("list")).to_contain_text(
        "Prefers email"
    )
    expect(mine).to_have_value("Gus asked about the")


def test_the_cursor_comes_back_to_a_note_being_written(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    """The notes' field is drawn after its notes load, later than the rest of the view:
    a reconnect left the text but not the cursor there."""
    base = node.base_url
    agent: Page = new_page()
    blip = Blip(agent, "**/ws/agent")
    login(agent, base)
    chat(new_page, base, agent, "Uma")
    note = agent.get_by_role("region", name="Notes").get_by_role("textbox", name="New note")
    note.fill("Uma wants")
    note.press("End")
    reconnect(agent, blip)
    expect(note).to_have_value("Uma wants")
    expect(note).to_be_focused()
    agent.keyboard.type(" a refund")
    expect(note).to_have_value("Uma wants a refund")


def test_an_action_whose_answer_died_with_the_socket_is_said(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    """A disposition chosen just before a drop: its frame never reached the server, and
    its answer never comes. After the reconnect the console says so, and the picker
    follows the agent's other console again (it stayed "on its way" for good)."""
    base = node.base_url
    agent: Page = new_page()
    route = HeldFrames(agent, "disposition")
    login(agent, base)
    chat(new_page, base, agent, "Hal")
    pick = agent.get_by_role("combobox", name="Disposition")
    pick.select_option("Spam")
    expect(pick).to_have_value("Spam")
    route.drop()  # the snapshot after the reconnect is what says it
    expect(agent.locator("#conv .alert")).to_contain_text(
        "No answer came before the reconnect: check that the console shows what you asked "
        "(save the disposition of the chat with Hal)."
    )
    assert route.held, "the disposition frame was not held"
    other: Page = login(new_page(), base)
    open_row(other, "Hal")
    other.get_by_role("combobox", name="Disposition").select_option("Resolved")
    expect(pick).to_have_value("Resolved")


def test_a_refused_status_puts_the_control_back(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    agent: Page = new_page()
    route = HeldFrames(agent, "status")
    login(agent, node.base_url)
    control = agent.get_by_role("combobox", name="Status")
    expect(control).to_have_value("available")
    control.select_option("away")
    until_page(agent, lambda: route.held, what="the status frame, held")
    route.refuse("store_unavailable", "the database is not answering; try again")
    expect(agent.locator("#conv .alert")).to_contain_text(
        "Status not changed: the database is not answering"
    )
    expect(control).to_have_value("available")


def test_a_template_chosen_across_a_reconnect_goes_into_the_editor_on_screen(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    base = node.base_url
    token = services.login_token(base, *ADMIN)
    httpx.post(
        base + "/api/admin/templates",
        json={
            "collection": "Sales",
            "name": "Greeting",
            "content": {"default": "Hello {{contact.name}}."},
        },
        headers={"Authorization": f"Bearer {token}"},
    ).raise_for_status()
    agent: Page = new_page()
    blip = Blip(agent, "**/ws/agent")
    login(agent, base)
    chat(new_page, base, agent, "Ivo")
    box = agent.get_by_role("textbox", name="Reply")
    box.fill("Hi. ")
    box.press("Control+/")
    dialog = agent.get_by_role("dialog", name="Templates")
    dialog.get_by_role("searchbox", name="Search templates").fill("greet")
    choice = dialog.get_by_role("button", name="Sales · Greeting Hello Ivo.")
    expect(choice).to_be_visible()
    reconnect(agent, blip)  # the editor is drawn again under the open dialog
    choice.click()
    expect(box).to_have_value("Hi. Hello Ivo.")


def test_the_ringing_dialog_counts_the_chats_behind_it(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    base = node.base_url
    agent: Page = login(new_page(), base)
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    for name in ("Jo", "Kai"):
        visitor: Page = new_page()
        visitor.goto(base + "/demo")
        open_widget(visitor)
        start_chat(visitor, name, f"{name.lower()}@example.com", f"Hello, {name} here.")
        expect(ring).to_contain_text("Jo")  # the first rings on
    expect(ring).to_contain_text("1 more ringing")
    accept_offer(agent, "Jo")
    expect(ring).to_contain_text("Kai")
    expect(ring).not_to_contain_text("more ringing")


def test_a_forward_goes_with_the_drafts_when_the_email_is_handed_on(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    """Forward, not sent, then Send to inbox: the forward was kept (outside the drafts)
    and, the conversation taken again, a plain reply carried the forwarded email."""
    base = node.base_url
    agent: Page = login(new_page(), base)
    posted: list[str] = []
    agent.on(
        "request",
        lambda r: (
            posted.append(r.post_data or "")
            if r.method == "POST" and r.url.endswith("/messages")
            else None
        ),
    )
    customer: Page = new_page()
    customer.goto(base + "/demo/email")
    customer.get_by_role("textbox", name="Your email").fill("lea@customer.test")
    customer.get_by_role("textbox", name="Your name").fill("Lea")
    customer.get_by_role("textbox", name="Subject").fill("Wrong size")
    customer.get_by_role("textbox", name="Message").fill("I got an M, I ordered an L.")
    customer.get_by_role("button", name="Send").click()
    expect(customer.get_by_role("status")).to_have_text("Sent.")
    inbox = agent.get_by_role("region", name=re.compile("^Inbox"))
    expect(inbox).to_contain_text("Lea", timeout=30_000)
    inbox.get_by_text("Lea").first.click()
    agent.get_by_role("button", name="Assign", exact=True).click()
    expect(agent.get_by_role("list", name="Emails")).to_contain_text("Wrong size")

    agent.get_by_role("button", name="Forward").click()
    expect(agent.get_by_role("textbox", name="Subject")).to_have_value("Fwd: Wrong size")
    agent.get_by_role("button", name="Send to inbox").click()
    expect(agent.get_by_role("status").filter(has_text="Lea")).to_be_visible()
    inbox.get_by_text("Lea").first.click()
    agent.get_by_role("button", name="Assign", exact=True).click()
    expect(agent.get_by_role("textbox", name="Subject")).to_have_value("")
    box = agent.get_by_role("textbox", name="Reply")
    box.fill("An L is on its way.")
    box.press("Shift+Enter")
    mine = agent.get_by_role("list", name="Messages").get_by_role("listitem")
    expect(mine.filter(has_text="An L is on its way.")).not_to_contain_text("Sending…")
    assert not any("Forwarded message" in body for body in posted), posted


def test_a_second_transfer_on_its_way_goes_only_when_it_names_another_target(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    """The guard against a second press (a double click) sends a repeat of a transfer
    on its way once, and a transfer to someone else as the new request it is."""
    base = node.base_url
    agent: Page = new_page()
    route = HeldFrames(agent, "transfer")
    login(agent, base)
    chat(new_page, base, agent, "Vi")
    admin: Page = login(new_page(), base, ADMIN)  # online once Vi's chat is the agent's
    set_status(admin, "Available")

    def transfer(label: str) -> None:
        agent.get_by_role("button", name="Transfer").click()
        dialog = agent.get_by_role("dialog", name="Transfer Vi")
        dialog.get_by_role("combobox", name="Transfer to").select_option(label=label)
        dialog.get_by_role("button", name="Transfer").click()
        expect(dialog).to_be_hidden()

    transfer("Support (queue)")
    transfer("Support (queue)")  # the same, while the first is on its way: not sent
    transfer("Grace (demo admin) (available)")
    # frames go out in order: once Grace's is held, a repeat sent before it would be too
    until_page(agent, lambda: any("ag_admin" in f for f in route.held), what="Grace's, held")
    targets = [json.loads(f).get("to_queue_id") or json.loads(f)["to_agent_id"] for f in route.held]
    assert targets == ["q_support", "ag_admin"], route.held
