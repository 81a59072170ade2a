"""The widget while a bot holds the chat (/demo/bot): it promises no agent (no waiting
notice, the bot's messages are the conversation), also after a reload; when the bot
hands over (here: the visitor asks for a person), the waiting notice appears.

The test plays the bot: a real HTTP server on loopback receives the bot's events (the
demo bot's webhook port) and the bot answers through the integration API."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from devkit import services
from examples.gateway_client import IntegrationClient
from tests.browser.conftest import NewPage, chat_frame, open_widget
from tests.integration.test_bots import two_free_ports

pytestmark = pytest.mark.browser


class BotHook:
    """The bot's webhook: records the events the gateway posts to it."""

    def __init__(self, port: int) -> None:
        self.events: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with hook.changed:
                    hook.events.append(json.loads(body))
                    hook.changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, event_type: str) -> dict[str, Any]:
        with self.changed:
            assert self.changed.wait_for(
                lambda: any(e["type"] == event_type for e in self.events), timeout=20
            ), f"no {event_type}; got {[e['type'] for e in self.events]}"
            return next(e for e in self.events if e["type"] == event_type)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bot_site() -> Iterator[tuple[services.GatewayProcess, BotHook]]:
    port = two_free_ports()
    node = services.start_gateway({"GATEWAY_DEMO": "1"}, port=port)
    # where the demo's bot touchpoint posts its events: a port the OS gave (demo-bot.json)
    config = json.loads((Path(node.env["GATEWAY_DATA_DIR"]) / "demo-bot.json").read_text())
    hook = BotHook(config["port"])
    try:
        yield node, hook
    finally:
        hook.stop()
        node.stop()


def bot_says(node: services.GatewayProcess, conversation_id: str, text: str) -> None:
    config = json.loads((Path(node.env["GATEWAY_DATA_DIR"]) / "demo-bot.json").read_text())

    async def send() -> None:
        async with IntegrationClient(
            node.base_url,
            config["touchpoint_id"],
            config["api_key"],
            signing_secret=config["signing_secret"],
        ) as api:
            await api.send(conversation_id, text, sender="bot")

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, send()).result()


def test_no_agent_is_promised_while_the_bot_answers(
    bot_site: tuple[services.GatewayProcess, BotHook], new_page: NewPage
) -> None:
    node, hook = bot_site
    page = new_page()
    page.goto(node.base_url + "/demo/bot")
    frame = open_widget(page)
    # the bot's site asks for nothing but the message
    frame.get_by_role("textbox", name="Your message").fill("Where is my order?")
    frame.get_by_role("button", name="Start chat").click()
    started = hook.wait("conversation.started")
    assert started["conversation"]["state"] == "bot"
    bot_says(node, started["conversation"]["id"], "Hi! I am the bot. Let me look.")
    messages = frame.get_by_role("list", name="Messages")
    expect(messages.get_by_text("Hi! I am the bot. Let me look.")).to_be_visible()
    expect(frame.locator("#waiting-note")).to_have_count(0)
    page.reload()  # the welcome says who holds it (the widget stays open)
    frame = chat_frame(page)
    messages = frame.get_by_role("list", name="Messages")
    expect(messages.get_by_text("Hi! I am the bot. Let me look.")).to_be_visible()
    expect(frame.locator("#waiting-note")).to_have_count(0)
    # the visitor asks for a person: the bot's turn ends, the agents are waited for
    frame.get_by_role("textbox", name="Message").fill("I want a person please")
    frame.get_by_role("textbox", name="Message").press("Enter")
    hook.wait("conversation.handed_over")
    expect(frame.locator("#waiting-note")).to_have_text(
        "Thanks! An agent will be with you shortly."
    )
