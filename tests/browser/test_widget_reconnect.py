"""The widget when its connection drops or things change behind the visitor's back: a
message the ended chat did not take is kept, said, and goes into a new chat; ending
while disconnected says so; a "nobody can answer" form sent after an agent came online
becomes the chat form (docs/widget.md, "The chat app's protocol use", "Nobody can
answer" and "Waiting, and ending"); a start the page was left before its answer is offered again
("The chat app's protocol use")."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from devkit import services
from tests.browser.conftest import (
    Blip,
    NewPage,
    accept_offer,
    chat_frame,
    end_chat,
    login,
    open_widget,
    start_chat,
)

pytestmark = pytest.mark.browser


def chat(
    new_page: NewPage, base: str, agent: Page, name: str, page: Page | None = None
) -> tuple[Page, Any]:
    page = page or new_page()
    page.goto(base + "/demo")
    frame = open_widget(page)
    start_chat(page, name, f"{name.lower()}@example.com", f"hello from {name}")
    accept_offer(agent, name)
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("joined the chat")
    return page, frame


def down(frame: Any, blip: Blip) -> None:
    """The blip, long enough for the widget to say so."""
    blip.start()
    expect(frame.get_by_text("Connection lost. Reconnecting…")).to_be_visible(timeout=20_000)


def chat_cut_off(new_page: NewPage, base: str, name: str) -> tuple[Page, Page, Any, Blip]:
    """The agent, and a visitor's chat with them whose socket is then down: (agent,
    visitor page, widget frame, the blip to end)."""
    agent = login(new_page(), base)
    v = new_page()
    blip = Blip(v, "**/ws/visitor")
    v, frame = chat(new_page, base, agent, name, v)
    down(frame, blip)
    return agent, v, frame, blip


def line(frame: Any, text: str) -> Any:
    return frame.get_by_role("list", name="Messages").get_by_role("listitem").filter(has_text=text)


def test_a_message_the_ended_chat_did_not_take_goes_into_a_new_chat(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    agent, v, frame, blip = chat_cut_off(new_page, node.base_url, "Zoe")
    frame.get_by_role("textbox", name="Message").fill("written while away")
    frame.get_by_role("textbox", name="Message").press("Enter")
    expect(line(frame, "written while away")).to_contain_text("Sending…")
    end_chat(agent, "Zoe")
    blip.over()
    mine = line(frame, "written while away")
    expect(mine).to_contain_text("Not sent: the chat had ended.", timeout=30_000)
    expect(frame.get_by_text("How was this chat?")).to_be_visible()
    # Kept across a reload, not dropped.
    v.reload()
    frame = v.locator("iframe[title='Chat']").content_frame
    expect(line(frame, "written while away")).to_contain_text("Not sent: the chat had ended.")
    line(frame, "written while away").get_by_role("button", name="Send it in a new chat").click()
    expect(frame.get_by_text("Your last message was not sent: the chat had ended.")).to_be_visible()
    expect(frame.get_by_role("textbox", name="Your message")).to_have_value("written while away")
    frame.get_by_role("textbox", name="Your name").fill("Zoe")
    frame.get_by_role("textbox", name="Email").fill("zoe@example.com")
    frame.get_by_role("button", name="Start chat").click()
    expect(line(frame, "written while away")).to_contain_text("Sent")
    expect(line(frame, "written while away")).to_have_count(1)
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    expect(ring).to_contain_text("written while away")


def test_a_message_refused_because_the_chat_ended_is_not_retried_into_it(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    agent = login(new_page(), node.base_url)
    v = new_page()
    # The "ended" event is lost on its way: the widget learns of the end from the refusal.
    hide_end = {"on": False}

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_server(msg: str | bytes) -> None:
            if not (hide_end["on"] and isinstance(msg, str) and '"ended"' in msg):
                ws.send(msg)

        server.on_message(from_server)

    v.route_web_socket("**/ws/visitor", route)
    v, frame = chat(new_page, node.base_url, agent, "Rex", v)
    hide_end["on"] = True
    end_chat(agent, "Rex")
    frame.get_by_role("textbox", name="Message").fill("after the end")
    frame.get_by_role("textbox", name="Message").press("Enter")
    mine = line(frame, "after the end")
    expect(mine).to_contain_text("Not sent: the chat had ended.")
    expect(mine.get_by_role("button", name="Retry")).to_have_count(0)
    hide_end["on"] = False
    mine.get_by_role("button", name="Send it in a new chat").click()
    # The last form's answers and the message are filled in: one press starts it.
    expect(frame.get_by_role("textbox", name="Your name")).to_have_value("Rex")
    expect(frame.get_by_role("textbox", name="Your message")).to_have_value("after the end")
    frame.get_by_role("button", name="Start chat").click()
    expect(line(frame, "after the end")).to_contain_text("Sent")
    expect(agent.get_by_role("alertdialog", name="Incoming chat")).to_contain_text("after the end")


def test_ending_while_disconnected_says_so(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    _, _, frame, blip = chat_cut_off(new_page, node.base_url, "Eli")
    frame.get_by_role("button", name="End chat").click()
    frame.get_by_role("button", name="Yes, end it").click()
    expect(frame.get_by_role("alert")).to_have_text(
        "Not connected: the chat is still open. Try again in a moment."
    )
    blip.over()
    expect(frame.get_by_text("Connection lost. Reconnecting…")).to_be_hidden(timeout=30_000)
    frame.get_by_role("button", name="Yes, end it").click()
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("You ended the chat.")


def test_a_stale_nobody_can_answer_form_offers_the_chat_instead(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    base = node.base_url
    v = new_page()
    v.goto(base + "/demo")
    frame = open_widget(v)
    expect(frame.get_by_text("Nobody can answer right now")).to_be_visible()
    frame.get_by_role("textbox", name="Your name").fill("Nia")
    frame.get_by_role("textbox", name="Email").fill("nia@example.com")
    frame.get_by_role("textbox", name="Your message").fill("anyone there?")
    # An agent comes online while the form is open.
    agent = login(new_page(), base)
    # its snapshot says available: the router took the agent online before sending it
    expect(agent.locator("#status")).to_have_value("available")
    # Sending asks first: the form turns into the chat form, with what was typed.
    frame.get_by_role("button", name="Send message").click()
    expect(frame.locator("#avail")).to_contain_text("Good news: an agent can answer now.")
    expect(frame.get_by_role("textbox", name="Your message")).to_have_value("anyone there?")
    expect(frame.get_by_role("textbox", name="Your name")).to_have_value("Nia")
    frame.get_by_role("button", name="Start chat").click()
    # taken, so its offer rings no one in the next tests (oldest first, 60 s each)
    accept_offer(agent, "Nia")


def widget_frame(page: Page) -> Any:
    """The widget's iframe as a Frame (for waiting on its storage)."""
    return next(f for f in page.frames if "/widget/frame.html" in f.url)


# The chat app's stored state: the unacknowledged messages (and the start) it keeps.
PENDING = """() => {
  const key = Object.keys(localStorage).find((k) => k.startsWith("gw.v1."));
  return ((JSON.parse(localStorage.getItem(key) || "{}").pending) || []).length;
}"""


def fill_start(frame: Any, name: str, message: str) -> None:
    frame.get_by_role("textbox", name="Your name").fill(name)
    frame.get_by_role("textbox", name="Email").fill(f"{name.lower()}@example.com")
    frame.get_by_role("textbox", name="Your message").fill(message)
    frame.get_by_role("button", name="Start chat").click()


def test_a_start_that_never_arrived_is_offered_again_after_a_reload(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    base = node.base_url
    agent = login(new_page(), base)
    expect(agent.locator("#status")).to_have_value("available")
    v = new_page()
    blip = Blip(v, "**/ws/visitor")
    v.goto(base + "/demo")
    frame = open_widget(v)
    expect(frame.get_by_role("button", name="Start chat")).to_be_enabled()
    blip.start()
    blip.until_retried(v)  # the widget saw the drop: its reconnect was refused
    fill_start(frame, "Ida", "are you there?")
    expect(frame.get_by_role("button", name="Start chat")).to_be_disabled()
    v.reload()
    frame = chat_frame(v)
    expect(frame.get_by_text("Your message was not sent before the page was left.")).to_be_visible()
    expect(frame.get_by_role("textbox", name="Your message")).to_have_value("are you there?")
    expect(frame.get_by_role("textbox", name="Your name")).to_have_value("Ida")
    assert widget_frame(v).evaluate(PENDING) == 1
    blip.over()
    # The welcome names no chat: the start never arrived, the form holds its message.
    widget_frame(v).wait_for_function(f"() => ({PENDING})() === 0", timeout=30_000)
    frame.get_by_role("button", name="Start chat").click()
    accept_offer(agent, "Ida")
    frame.get_by_role("textbox", name="Message").fill("and a second one")
    frame.get_by_role("textbox", name="Message").press("Enter")
    messages = agent.get_by_role("list", name="Messages")
    expect(messages.get_by_text("and a second one")).to_be_visible()
    # Sent once, by the visitor's press, not again on its own with the next message.
    expect(messages.get_by_text("are you there?")).to_have_count(1)
    expect(line(frame, "are you there?")).to_have_count(1)


def test_a_start_whose_answer_was_lost_is_the_chat_after_a_reload(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    base = node.base_url
    agent = login(new_page(), base)
    expect(agent.locator("#status")).to_have_value("available")
    v = new_page()
    cut = {"on": False, "welcomed": 0}

    def from_server(ws: Any, msg: str | bytes) -> None:
        if cut["on"]:
            return
        if isinstance(msg, str) and '"welcome"' in msg:
            cut["welcomed"] += 1
        ws.send(msg)

    def route(ws: Any) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda msg: from_server(ws, msg))

    v.route_web_socket("**/ws/visitor", route)
    v.goto(base + "/demo")
    frame = open_widget(v)
    expect(frame.get_by_role("button", name="Start chat")).to_be_enabled()
    # The widget sends a start once welcomed (before, it keeps it for the welcome): the
    # cut must come after the welcome, which the enabled button does not say.
    deadline = time.monotonic() + 20
    while not cut["welcomed"]:
        assert time.monotonic() < deadline, "the widget was never welcomed"
        v.wait_for_timeout(50)  # Playwright delivers the route's messages meanwhile
    cut["on"] = True  # the start arrives; nothing comes back
    fill_start(frame, "Uma", "hello, anyone?")
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    expect(ring).to_contain_text("hello, anyone?")
    cut["on"] = False
    v.reload()
    frame = chat_frame(v)
    mine = line(frame, "hello, anyone?")
    expect(mine).to_contain_text("Sent", timeout=30_000)
    expect(frame.get_by_text("Your message was not sent before the page was left.")).to_be_hidden()
    ring.get_by_role("button", name="Accept").click()
    messages = agent.get_by_role("list", name="Messages")
    frame.get_by_role("textbox", name="Message").fill("still here")
    frame.get_by_role("textbox", name="Message").press("Enter")
    expect(messages.get_by_text("still here")).to_be_visible()
    expect(messages.get_by_text("hello, anyone?")).to_have_count(1)
    expect(mine).to_have_count(1)
