"""The console's lists keep their rows between frames (docs/console.md, "Lists"): the
Inbox, Assigned to you and the Live view are drawn again on every frame, and a row whose
content is unchanged keeps its element. A row rebuilt between a press and its release
took the click with it (test_priority_numbers.py had to click Assign twice after a
reload): here a frame comes between the mouse's down and up on Assign, and the click
assigns."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import ADMIN, NewPage, fill_form, login, open_widget, start_chat
from tests.browser.test_actions import set_status
from tests.poll import until_page

pytestmark = pytest.mark.browser


def arrive(new_page: NewPage, base: str, name: str, button: str = "Send message") -> None:
    """A visitor starts a chat: a `conversation` frame to every console whose Inbox (or
    Live view) shows it. Nobody is available, so the widget's form leaves a message."""
    visitor: Page = new_page()
    visitor.goto(base + "/demo")
    open_widget(visitor)
    start_chat(visitor, name, f"{name.lower()}@example.com", f"Hello, {name} here.", button)


def still_there(page: Page) -> bool:
    return bool(page.evaluate("() => document.contains(window.probe)"))


def test_an_inbox_row_outlives_frames_and_a_click_across_one_lands(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    agent: Page = login(new_page(), base)
    set_status(agent, "Away")  # so that the chats wait in the Inbox
    # Oldest first: the rows that arrive go below, and nothing moves under the pointer.
    agent.locator("#f-sort").select_option("oldest")
    inbox = agent.get_by_role("region", name=re.compile("^Inbox"))
    arrive(new_page, base, "Noor")
    assign = (
        inbox.get_by_role("listitem")
        .filter(has_text="Noor")
        .get_by_role("button", name="Assign Noor")
    )
    expect(assign).to_be_visible()
    assign.evaluate("el => { window.probe = el; }")

    # Another conversation arrives: the lists are drawn again, Noor's row is unchanged.
    arrive(new_page, base, "Lin")
    expect(inbox.get_by_role("button", name="Assign Lin")).to_be_visible()
    assert still_there(agent), "Noor's Assign button was replaced by a frame"

    # Pressed, a frame comes and shows, released: the click is Assign's.
    box = assign.bounding_box()
    assert box is not None
    agent.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    agent.mouse.down()
    arrive(new_page, base, "Sam")
    expect(inbox.get_by_role("button", name="Assign Sam")).to_be_visible()
    agent.mouse.up()
    assigned = agent.get_by_role("region", name=re.compile("^Assigned to you"))
    expect(assigned.get_by_role("button", name=re.compile("Noor"))).to_be_visible()
    expect(inbox.get_by_role("button", name="Assign Noor")).to_have_count(0)
    # The others' rows stayed, as did the placeholder's absence.
    expect(inbox.get_by_role("button", name=re.compile("^Assign (Lin|Sam)$"))).to_have_count(2)
    expect(inbox.get_by_text("Nothing waiting.")).to_have_count(0)


def test_a_click_lands_when_an_arrival_above_comes_between_press_and_release(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    """Newest first (the default): an arrival goes above the row pressed and would move
    it from under the pointer. A press in a list holds the redraw until its click is
    done; the arrival shows after."""
    base = gateway.base_url
    agent: Page = new_page()
    frames: list[str] = []
    agent.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda f: frames.append(f if isinstance(f, str) else "")),
    )
    login(agent, base)
    set_status(agent, "Away")
    inbox = agent.get_by_role("region", name=re.compile("^Inbox"))
    arrive(new_page, base, "Ravi")
    arrive(new_page, base, "Mia")
    assign = inbox.get_by_role("button", name="Assign Ravi")
    expect(inbox.get_by_role("button", name="Assign Mia")).to_be_visible()

    box = assign.bounding_box()
    assert box is not None
    agent.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    # Tom's form filled first: between the press and the release, only its sending
    tom: Page = new_page()
    tom.goto(base + "/demo")
    open_widget(tom)
    form = fill_form(tom, "Tom", "tom@example.com", "Hello, Tom here.")
    agent.mouse.down()
    form.get_by_role("button", name="Send message").click()
    # the frame is in; the row not
    until_page(agent, lambda: any("Tom" in f for f in frames), what="Tom's conversation frame")
    expect(inbox.get_by_role("button", name="Assign Tom")).to_have_count(0)
    agent.mouse.up()
    assigned = agent.get_by_role("region", name=re.compile("^Assigned to you"))
    expect(assigned.get_by_role("button", name=re.compile("Ravi"))).to_be_visible()
    expect(inbox.get_by_role("button", name="Assign Tom")).to_be_visible()
    expect(inbox.get_by_role("button", name="Assign Ravi")).to_have_count(0)


def test_a_live_row_outlives_frames_and_the_ticks(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    admin: Page = new_page()
    # The test's clock: it runs with real time (the connection, its backoff and the
    # console's timers as ever) until the test moves it on to the Live view's 5 s tick.
    admin.clock.install()
    login(admin, base, ADMIN)
    set_status(admin, "Away")  # nothing rings here: no dialog over the Live view
    admin.get_by_role("link", name="Live").click()
    arrive(new_page, base, "Kim")
    row = admin.locator("#live-conversations tbody tr", has_text="Kim")
    monitor = row.get_by_role("button", name="Monitor Kim")
    expect(monitor).to_be_visible()
    monitor.evaluate("el => { window.probe = el; }")

    # A frame (another conversation), then the 5 s tick that advances the waiting times.
    arrive(new_page, base, "Rui")
    expect(admin.get_by_role("button", name="Monitor Rui")).to_be_visible()
    assert still_there(admin), "Kim's Monitor button was replaced by a frame"
    waiting = row.locator("td").nth(3)
    expect(waiting).to_have_text(re.compile(r"^\d+ s$"))
    before = waiting.inner_text()
    admin.clock.fast_forward(5000)  # the tick comes due, 5 s on
    expect(waiting).not_to_have_text(before)  # the tick wrote the cell
    assert still_there(admin), "Kim's Monitor button was replaced by the tick"
    monitor.click()
    expect(admin.get_by_role("heading", name=re.compile("Kim"), level=2)).to_be_visible()
