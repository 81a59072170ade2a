"""A tiny example bot for the engagement gateway: it greets, answers one question, and
hands the conversation over to a person (docs/integration-api.md, "Bots"). The chat's
first message is the question unless it only greets ("Hi"): then the bot's greeting
asks for the question, and the contact's next message is it.

The gateway hands it new conversations (a flow rule names it: ``"bot": "<touchpoint>"``)
and sends it, as signed webhooks, the conversation's start and the contact's messages;
it answers through the integration API (examples/gateway_client.py). It needs an
integration touchpoint whose webhook URL points here, that touchpoint's signing secret,
and one of its API keys:

    python examples/demo_bot.py --gateway http://127.0.0.1:8000 --touchpoint tp_bot \\
        --key gk_... --secret <signing secret> --port 8001

``./scripts/serve`` runs it beside the demo (``--config data/demo-bot.json --wait``: the
demo writes that file, with a key made for the bot, when it seeds its data).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script, too

from examples.gateway_client import (
    ApiError,
    Event,
    IntegrationClient,
    InvalidSignature,
    TranscriptLine,
    verify_webhook,
)

log = logging.getLogger("demo-bot")

GREETING = (
    "Hi! I am the demo bot. Ask me one question about our opening hours, delivery or "
    "returns, or write 'agent' to talk to a person."
)
ANSWERS: list[tuple[tuple[str, ...], str]] = [
    (("hour", "open", "close", "time"), "We are open Monday to Friday, 9:00 to 18:00."),
    (("deliver", "ship", "parcel", "package"), "We deliver in three working days."),
    (("return", "refund", "exchange"), "You can return anything within thirty days."),
]
DONT_KNOW = "I am not sure about that one."
HANDING_OVER = "Let me hand you over to a colleague for anything else."
PERSON = re.compile(r"\b(agent|human|person|operator|representative)\b", re.I)


def answer(question: str) -> str:
    words = question.lower()
    for keys, reply in ANSWERS:
        if any(k in words for k in keys):
            return reply
    return DONT_KNOW


ONLY_GREETS = re.compile(
    r"(hi|hello|hey|hiya|good (morning|afternoon|evening)|bonjour|salut)( there)?\W*", re.I
)


def is_greeting(text: str) -> bool:
    """Whether the chat's first message only greets ("Hi", "Hello there!"): anything
    else, a question or not ("My printer is broken"), is what the contact came for."""
    return ONLY_GREETS.fullmatch(text.strip()) is not None


class Bot:
    """Greets each conversation it is handed, answers the contact's first question (the
    first message unless it only greets, else the next), then escalates with a one-line summary
    for the agent. Events come at least once: it remembers their ids and drops repeats."""

    def __init__(self, api: IntegrationClient, secret: str) -> None:
        self.api = api
        self.secret = secret
        self.seen: set[str] = set()
        self.answered: set[str] = set()
        self.heard: set[str] = set()  # conversations whose first message came
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def webhook(self, request: Request) -> Response:
        body = await request.body()
        try:
            event = verify_webhook(self.secret, request.headers.get("Gateway-Signature"), body)
        except InvalidSignature as exc:
            log.warning("refused a webhook: %s", exc)
            return Response(status_code=401)
        if event.id not in self.seen:
            self.seen.add(event.id)
            # answer the gateway at once; act on the event in the background, in order
            task = asyncio.create_task(self.handle(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return Response(status_code=204)

    async def handle(self, event: Event) -> None:
        cid = str(event.conversation.get("id", ""))
        async with self._locks.setdefault(cid, asyncio.Lock()):
            try:
                await self._act(event, cid)
            except ApiError as exc:  # handed over or ended meanwhile: not ours any more
                log.info("conversation %s: %s", cid, exc)

    async def _act(self, event: Event, cid: str) -> None:
        if event.type == "conversation.started":
            await self.api.send(cid, GREETING, sender="bot", message_id=f"greet-{cid}")
        elif event.type == "message.created":
            message = event.message or {}
            text = str(message.get("body", ""))
            if message.get("sender") != "contact" or cid in self.answered:
                return
            if PERSON.search(text):  # the gateway hands it over by itself
                return
            first = cid not in self.heard
            self.heard.add(cid)
            if first and is_greeting(text):
                return  # a greeting: the bot's own greeting asked for the question
            self.answered.add(cid)
            reply = answer(text)
            await self.api.send(
                cid, f"{reply} {HANDING_OVER}", sender="bot", message_id=f"answer-{cid}"
            )
            summary = f"Asked: {text!r}. The bot answered: {reply}"
            await self.api.escalate(cid, [TranscriptLine("bot", summary, time.time(), "Demo bot")])
        elif event.type in ("conversation.handed_over", "conversation.ended"):
            self.answered.discard(cid)
            self.heard.discard(cid)
            self._locks.pop(cid, None)


def _config(args: argparse.Namespace) -> dict[str, Any]:
    if args.config:
        path = Path(args.config)
        while args.wait and not path.exists():  # the demo writes it when it seeds
            time.sleep(0.5)
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    return {
        "gateway": args.gateway,
        "touchpoint_id": args.touchpoint,
        "api_key": args.key,
        "signing_secret": args.secret,
        "port": args.port,
    }


def _answers(url: str) -> bool:
    """Whether the gateway at ``url`` is up (its seeding done)."""
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", help="a JSON file with the settings below")
    parser.add_argument("--wait", action="store_true", help="wait for the file and the gateway")
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--touchpoint", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--secret", default="")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="demo-bot: %(message)s")
    # With --wait the file is read again once its gateway answers: it may be a previous
    # run's, which the demo rewrites as it seeds (the bot's port is one the OS gave, a
    # new one when the old is taken; a new GATEWAY_PORT).
    while args.wait and not _answers(_config(args)["gateway"]):
        time.sleep(0.5)
    cfg = _config(args)
    api = IntegrationClient(cfg["gateway"], cfg["touchpoint_id"], cfg["api_key"])
    bot = Bot(api, cfg["signing_secret"])
    app = Starlette(routes=[Route("/events", bot.webhook, methods=["POST"])])
    print(f"demo bot listening on http://127.0.0.1:{cfg['port']}/events", file=sys.stderr)
    uvicorn.run(app, host="127.0.0.1", port=int(cfg["port"]), log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
