"""The widget on a phone, by touch (Chromium's device emulation with touch): a
full-screen panel with a visible close control, Send reachable (the launcher used to sit
on top of it, and a tap on Send minimised the chat), and the editor above the keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import NewPage, chat_frame, login, shot

pytestmark = pytest.mark.browser


def phone(new_page: NewPage, width: int, height: int) -> Page:
    return new_page(
        viewport={"width": width, "height": height},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    )


def topmost_in_widget(page: Page, box: dict[str, float]) -> str:
    """What the host page would deliver a tap to at the box's centre, inside the
    widget's shadow root: the chat's iframe, or the launcher on top of it."""
    return str(
        page.evaluate(
            """([x, y]) => {
                const root = document.querySelector('[data-gateway-chat]').shadowRoot;
                const el = root.elementFromPoint(x, y);
                return el ? el.tagName.toLowerCase() + (el.className ? '.' + el.className.baseVal || el.className : '') : '';
            }""",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
    )


@pytest.mark.parametrize(("width", "height"), [(375, 667), (360, 640)])
def test_the_widget_by_touch_on_a_phone(
    new_page: NewPage, gateway: GatewayProcess, width: int, height: int
) -> None:
    login(new_page(), gateway.base_url)  # someone can answer: the chat form
    page = phone(new_page, width, height)
    page.goto(gateway.base_url + "/demo")
    page.get_by_role("button", name=re.compile("^Open chat")).tap()
    frame = chat_frame(page)
    # Full screen (once its opening transition is over), with the chat's own close
    # control visible; the launcher steps aside.
    page.wait_for_function(
        """([w, h]) => {
            const r = document.querySelector('[data-gateway-chat]').shadowRoot
                .querySelector('iframe').getBoundingClientRect();
            return Math.abs(r.left) < 1 && Math.abs(r.top) < 1
                && Math.abs(r.width - w) < 1 && Math.abs(r.height - h) < 1;
        }""",
        arg=[width, height],
    )
    close = frame.get_by_role("button", name="Minimise chat")
    expect(close).to_be_visible()
    expect(page.get_by_role("button", name="Minimise chat")).to_be_hidden()

    # An empty form starts nothing: the message is asked for on its field.
    frame.get_by_role("button", name="Start chat").tap()
    expect(frame.get_by_role("textbox", name="Your message")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(frame.get_by_role("list", name="Messages")).to_have_count(0)

    frame.get_by_role("textbox", name="Your name").tap()
    page.keyboard.type("Pia")
    frame.get_by_role("textbox", name="Your message").tap()
    page.keyboard.type("Hello from my phone")
    frame.get_by_role("button", name="Start chat").tap()
    messages = frame.get_by_role("list", name="Messages")
    expect(messages).to_contain_text("Hello from my phone")

    box = frame.get_by_role("textbox", name="Message")
    box.tap()
    page.keyboard.type("Sent with a tap")
    send = frame.get_by_role("button", name="Send")
    send_box = send.bounding_box()
    assert send_box is not None
    assert (
        send_box["y"] + send_box["height"] <= height and send_box["x"] + send_box["width"] <= width
    )
    assert topmost_in_widget(page, send_box) == "iframe"  # not the launcher
    send.tap()
    expect(messages.get_by_role("listitem").filter(has_text="Sent with a tap")).to_contain_text(
        "Sent"
    )
    # Still open: the tap went to Send, not to a launcher under the finger.
    expect(close).to_be_visible()
    if width == 375:
        shot(page, "widget-phone")

    # The keyboard takes the lower part of the screen: the panel follows the visual
    # viewport, so the editor and Send stay above it.
    page.set_viewport_size({"width": width, "height": height - 300})
    page.wait_for_function(f"() => visualViewport.height === {height - 300}")
    expect(box).to_be_in_viewport()
    send_box = send.bounding_box()
    assert send_box is not None and send_box["y"] + send_box["height"] <= height - 300

    close.tap()
    expect(page.get_by_role("button", name=re.compile("^Open chat"))).to_be_visible()
