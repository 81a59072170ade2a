"""What the visitor had under way when the chat ended or the connection dropped is not
lost: the text typed in the Message box and never sent goes into the new chat's form,
and an `end`, `rate` or `transcript` request that got no answer before a drop settles
(docs/widget.md, "The chat app's protocol use" and "Waiting, and ending")."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from devkit import services
from tests.browser.conftest import (
    Blip,
    NewPage,
    accept_offer,
    end_chat,
    login,
    open_widget,
    start_chat,
)
from tests.poll import until_page

pytestmark = pytest.mark.browser


class Cut:
    """The visitor's socket, through the page's route: ``arm(kind)`` makes the next
    frame of that type from the page never reach the gateway, and the socket drop then
    (1001, both sides); ``arm(kind, answered=True)``: the gateway gets it, and the socket
    drops instead of bringing its answer. The widget reconnects through the route."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.kind = ""
        self.answered = False
        self.lost_ref = ""  # the ref whose answer is to be lost
        self.dropped: list[dict[str, Any]] = []
        self.welcomes = 0  # the gateway's welcomes: one per connection
        page.route_web_socket("**/ws/visitor", self._route)

    def _route(self, ws: Any) -> None:
        server = ws.connect_to_server()

        def drop() -> None:
            ws.close(code=1001, reason="test: dropped")
            server.close(code=1001, reason="test: dropped")

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message) if isinstance(message, str) else {}
            if self.kind and frame.get("type") == self.kind:
                self.kind = ""
                self.dropped.append(frame)
                if not self.answered:
                    drop()
                    return
                self.lost_ref = frame["ref"]
            server.send(message)

        def from_server(message: str | bytes) -> None:
            if isinstance(message, str) and '"welcome"' in message:
                self.welcomes += 1
            if self.lost_ref and isinstance(message, str) and self.lost_ref in message:
                self.lost_ref = ""
                drop()
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    def arm(self, kind: str, *, answered: bool = False) -> None:
        self.kind = kind
        self.answered = answered

    def until_dropped(self) -> dict[str, Any]:
        until_page(self.page, lambda: self.dropped, what="the dropped frame")
        return self.dropped[-1]

    def until_welcomed(self, count: int) -> None:
        until_page(self.page, lambda: self.welcomes >= count, what=f"welcome number {count}")


def visitor_chat(new_page: NewPage, base: str, name: str, page: Page | None = None) -> Any:
    """A visitor's chat started on the demo page (an agent is online, so the form is
    the chat's); the widget's frame."""
    page = page or new_page()
    page.goto(base + "/demo")
    open_widget(page)
    return start_chat(page, name, f"{name.lower()}@example.com", f"hello from {name}")


def kept(frame: Any, text: str) -> Any:
    """The line under the ended chat that holds ``text``, not sent."""
    return frame.get_by_role("list", name="Messages").get_by_role("listitem").filter(has_text=text)


def test_text_typed_when_the_agent_ends_the_chat_goes_into_the_new_chat(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    agent = login(new_page(), node.base_url)
    frame = visitor_chat(new_page, node.base_url, "Ines")
    accept_offer(agent, "Ines")
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("joined the chat")
    frame.get_by_role("textbox", name="Message").fill("and one more question")  # no Enter
    end_chat(agent, "Ines")
    expect(frame.get_by_text("How was this chat?")).to_be_visible()
    frame.get_by_role("button", name="Start a new chat").click()
    expect(frame.get_by_role("textbox", name="Your message")).to_have_value("and one more question")
    expect(frame.get_by_role("textbox", name="Your name")).to_have_value("Ines")
    frame.get_by_role("button", name="Start chat").click()
    expect(agent.get_by_role("alertdialog", name="Incoming chat")).to_contain_text(
        "and one more question"
    )


def test_text_typed_while_away_from_a_chat_that_ended_is_kept(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    """The end comes with the reconnect (its welcome), not as a live event; the draft
    survives a reload too."""
    agent = login(new_page(), node.base_url)
    v = new_page()
    blip = Blip(v, "**/ws/visitor")
    frame = visitor_chat(new_page, node.base_url, "Omar", v)
    accept_offer(agent, "Omar")
    expect(frame.get_by_role("list", name="Messages")).to_contain_text("joined the chat")
    blip.start()
    blip.until_retried(v)
    frame.get_by_role("textbox", name="Message").fill("typed while offline")
    end_chat(agent, "Omar")
    blip.over()
    expect(frame.get_by_text("How was this chat?")).to_be_visible(timeout=30_000)
    expect(kept(frame, "typed while offline")).to_contain_text(
        "Not sent: the chat ended before you sent it."
    )
    expect(frame.get_by_role("textbox", name="Message")).to_have_count(0)
    v.reload()
    frame = v.locator("iframe[title='Chat']").content_frame
    kept(frame, "typed while offline").get_by_role("button", name="Send it in a new chat").click()
    expect(frame.get_by_text("Your last message was not sent")).to_be_visible()
    expect(frame.get_by_role("textbox", name="Your message")).to_have_value("typed while offline")


def test_a_rating_lost_in_a_drop_can_be_sent_again(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    login(new_page(), node.base_url)
    v = new_page()
    cut = Cut(v)
    frame = visitor_chat(new_page, node.base_url, "Lea", v)
    frame.get_by_role("button", name="End chat").click()
    frame.get_by_role("button", name="Yes, end it").click()
    expect(frame.get_by_text("How was this chat?")).to_be_visible()

    cut.arm("rate")
    frame.get_by_role("radio", name="4 stars").check()
    send = frame.get_by_role("button", name="Send rating")
    send.click()
    assert cut.until_dropped()["score"] == 4
    expect(frame.locator("#rate-err")).to_have_text(
        "The connection was lost before the answer came. Try again."
    )
    expect(send).to_be_enabled()
    cut.until_welcomed(2)  # reconnected
    send.click()
    expect(frame.get_by_text("Thank you for your rating!")).to_be_visible()


def test_a_rating_whose_answer_was_lost_is_thanked_after_the_reconnect(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    """The gateway stored it and its `ok` was lost: the reconnect's welcome says it is
    rated, and the widget thanks the visitor (the form stayed, to be sent again and
    answered "rated already")."""
    login(new_page(), node.base_url)
    v = new_page()
    cut = Cut(v)
    frame = visitor_chat(new_page, node.base_url, "Ada", v)
    frame.get_by_role("button", name="End chat").click()
    frame.get_by_role("button", name="Yes, end it").click()
    expect(frame.get_by_text("How was this chat?")).to_be_visible()

    cut.arm("rate", answered=True)
    frame.get_by_role("radio", name="5 stars").check()
    send = frame.get_by_role("button", name="Send rating")
    send.click()
    cut.until_dropped()
    expect(frame.locator("#rate-err")).to_have_text(
        "The connection was lost before the answer came. Try again."
    )
    cut.until_welcomed(2)
    expect(frame.get_by_text("Thank you for your rating!")).to_be_visible()
    expect(send).to_have_count(0)


def test_an_end_lost_in_a_drop_is_sent_again_after_the_reconnect(
    new_page: NewPage, node: services.GatewayProcess
) -> None:
    login(new_page(), node.base_url)
    v = new_page()
    cut = Cut(v)
    frame = visitor_chat(new_page, node.base_url, "Max", v)
    cut.arm("end")
    frame.get_by_role("button", name="End chat").click()
    frame.get_by_role("button", name="Yes, end it").click()
    cut.until_dropped()
    expect(frame.get_by_role("list", name="Messages")).to_contain_text(
        "You ended the chat.", timeout=30_000
    )
    expect(frame.get_by_text("How was this chat?")).to_be_visible()
