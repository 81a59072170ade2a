"""The console's countdown of a ringing chat does not depend on the browser's clock.

An ``offer`` frame says ``expires_in``; a console that (re)loads while a chat rings
reads it from the snapshot's row, whose ``offer_expires_at`` is in the server's time:
the snapshot's ``now`` says what the browser's clock is off by. A browser ten minutes
behind showed "Rings for 660 s more" for an offer of 60 s."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from devkit.services import GatewayProcess
from tests.browser.conftest import NewPage, login, open_widget, start_chat

pytestmark = pytest.mark.browser

OFFER = 60  # GATEWAY_OFFER_TIMEOUT of the browser tests' gateway


def test_a_console_with_a_clock_off_counts_a_ringing_chat_down_from_the_server(
    new_page: NewPage, node: GatewayProcess
) -> None:
    agent = new_page()
    agent.clock.set_system_time(datetime.now() - timedelta(minutes=10))
    login(agent, node.base_url)
    visitor = new_page()
    visitor.goto(node.base_url + "/demo")
    open_widget(visitor)
    start_chat(visitor, "Noor", "noor@example.com", "hello from a far clock")
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    expect(ring).to_contain_text("Noor")
    agent.reload()  # the ringing chat comes back in the snapshot, not as an offer frame
    ring = agent.get_by_role("alertdialog", name="Incoming chat")
    countdown = ring.get_by_text(re.compile(r"Rings for \d+ s more"))
    expect(countdown).to_be_visible()
    left = int(re.findall(r"\d+", countdown.inner_text())[0])
    assert 0 < left <= OFFER
