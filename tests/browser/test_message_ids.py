"""The widget's and the console's message ids are UUIDv7: time first, so they sort by
when they were made, which the store's idempotency index relies on to write them near
its end (docs/store.md, "The idempotency index")."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from playwright.sync_api import Page, WebSocket, expect

from devkit.services import GatewayProcess
from tests.browser.conftest import NewPage, accept_offer, login, open_widget, reply, start_chat

pytestmark = pytest.mark.browser


def _ids_sent(page: Page) -> list[str]:
    """The client_msg_id of every frame the page's sockets send, in order."""
    ids: list[str] = []

    def frame(payload: str | bytes) -> None:
        if isinstance(payload, str):
            mid = json.loads(payload).get("client_msg_id")
            if mid:
                ids.append(mid)

    def socket(ws: WebSocket) -> None:
        ws.on("framesent", frame)

    page.on("websocket", socket)
    return ids


def _ms(mid: str) -> int:
    """The time a UUIDv7 was made, in milliseconds (its first 48 bits)."""
    parsed = uuid.UUID(mid)
    assert parsed.version == 7, mid
    assert parsed.variant == uuid.RFC_4122, mid
    assert str(parsed) == mid  # the canonical, lower-case form: text order is time order
    return parsed.int >> 80


def test_widget_and_console_send_time_ordered_ids(
    new_page: NewPage, gateway: GatewayProcess
) -> None:
    base = gateway.base_url
    began = time.time() * 1000
    agent = new_page()
    agent_ids = _ids_sent(agent)
    login(agent, base)
    visitor = new_page()
    visitor_ids = _ids_sent(visitor)
    visitor.goto(base + "/demo")
    open_widget(visitor)
    frame = start_chat(visitor, "Ids", "ids@example.com", "First")
    accept_offer(agent, "Ids")
    box = frame.get_by_role("textbox", name="Message")
    for text in ("Second", "Third"):
        box.fill(text)
        box.press("Enter")
        expect(frame.get_by_role("listitem").filter(has_text=text)).to_contain_text("Sent")
    reply(agent, "An answer")
    reply(agent, "Another")
    ended = time.time() * 1000

    assert len(visitor_ids) >= 3 and len(agent_ids) >= 2, (visitor_ids, agent_ids)
    for ids in (visitor_ids, agent_ids):
        times = [_ms(mid) for mid in ids]
        assert all(began - 1000 <= t <= ended + 1000 for t in times), (began, times, ended)
        assert times == sorted(times)
        assert len(set(ids)) == len(ids)
