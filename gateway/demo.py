"""Demo data for ``./scripts/serve`` (``GATEWAY_DEMO=1``): created once, when neither demo
account exists, and never over a record that exists: an operator who changed the demo
admin's password, or deleted the demo agent, keeps what they did.

The chat channel's two demo touchpoints (channels/chat/demo.py), the messaging
channels' touchpoints when the provider emulators run (channels/phone), one queue, a
disposition set, an agent and an admin; and the demo bot (:func:`seed_demo_bot`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from channels import phone
from channels.chat.demo import (
    DEMO_BOT,
    DEMO_TOUCHPOINTS,
    demo_bot_touchpoints,
    demo_domain,
    demo_port,
    demo_touchpoints,
)
from channels.email.demo import DEMO_TOUCHPOINT_ID, demo_touchpoint
from gateway.model.records import Agent, DispositionSet, GlobalSettings, Queue, Touchpoint
from gateway.ports.store.base import Store
from gateway.services.directory import Directory
from gateway.services.integration_keys import ApiKeys
from gateway.settings import Settings

log = logging.getLogger("gateway.demo")

DEMO_AGENT = ("agent@demo.test", "demo-agent")
DEMO_ADMIN = ("admin@demo.test", "demo-admin")
# Their passwords' Argon2 hashes, made once (the passwords are published: the README,
# the start-up banner) rather than at every start of a demo (about 0.3 s of CPU each);
# a test checks that they match the passwords and the hasher's parameters.
DEMO_HASHES = {
    DEMO_AGENT[1]: "$argon2id$v=19$m=65536,t=3,p=4$rnzS7GdU7t/ryWRKM1BVjQ$"
    "x6oiXEDZSKJbAedOSk6uoe7iWl19NZ/pcp2h/WgnQEM",
    DEMO_ADMIN[1]: "$argon2id$v=19$m=65536,t=3,p=4$5HRHZZev6MQZlxDDcip3Qg$"
    "coINjJAD8ksyYfaR/Rx6jUNi9SeaN0zdgwJ4OsvbdDA",
}


async def seed_demo(
    store: Store,
    directory: Directory,
    settings: Settings,
    reload: Callable[[], Awaitable[None]],
    now: float,
) -> bool:
    """Create the demo data into a store with no agents at all (True if created). A
    store with the demo accounts gets nothing new but the demo touchpoints' domains, where
    they exist, kept on the port the gateway serves on now; any other store, nothing."""
    port = demo_port(settings)
    agents = await store.list_agents()
    demo_ids, demo_emails = {"ag_demo", "ag_admin"}, {DEMO_AGENT[0], DEMO_ADMIN[0]}
    if any(a.id in demo_ids or a.email.lower() in demo_emails for a in agents):
        changed = False
        if DEMO_TOUCHPOINT_ID not in directory.touchpoints:
            # a demo database from before the email channel
            await store.put_touchpoint(demo_touchpoint(now))
            changed = True
        for host, tp_id in DEMO_TOUCHPOINTS.items():
            tp = directory.touchpoints.get(tp_id)
            if tp is not None and tp.domain != demo_domain(host, port):
                await store.put_touchpoint(
                    msgspec.structs.replace(tp, domain=demo_domain(host, port))
                )
                changed = True
        for tp in directory.touchpoints.values():
            moved = phone.refreshed(tp, settings)
            if moved is not None:
                await store.put_touchpoint(moved)
                changed = True
        known = set(directory.touchpoints)
        for tp in phone.demo_touchpoints(settings, now):
            if tp.id not in known:  # the emulators run for the first time on this data
                await store.put_touchpoint(tp)
                changed = True
        if changed:
            await reload()
        return False
    if agents:  # real accounts: public demo passwords would open the door to them
        return False
    if not any(q.id == "q_support" for q in await store.list_queues()):
        await store.put_queue(Queue(id="q_support", name="Support"))
    if not any(d.id == "ds_default" for d in await store.list_disposition_sets()):
        await store.put_disposition_set(
            DispositionSet(
                id="ds_default", name="Default", dispositions=["Resolved", "Follow-up", "Spam"]
            )
        )
        await store.put_settings(GlobalSettings(disposition_set_id="ds_default"))
    existing = {tp.id for tp in await store.list_touchpoints()}
    for tp in [
        *demo_touchpoints(port, now),
        *phone.demo_touchpoints(settings, now),
        demo_touchpoint(now),
    ]:
        if tp.id not in existing:
            await store.put_touchpoint(tp)
    await store.put_agent(
        Agent(
            id="ag_demo",
            email=DEMO_AGENT[0],
            name="Ada (demo agent)",
            role="agent",
            queue_ids=["q_support"],
            password_hash=DEMO_HASHES[DEMO_AGENT[1]],
        )
    )
    await store.put_agent(
        Agent(
            id="ag_admin",
            email=DEMO_ADMIN[0],
            name="Grace (demo admin)",
            role="admin",
            queue_ids=["q_support"],
            password_hash=DEMO_HASHES[DEMO_ADMIN[1]],
        )
    )
    await reload()
    log.warning("demo data created: agent %s / %s, admin %s / %s", *DEMO_AGENT, *DEMO_ADMIN)
    return True


BOT_CONFIG = "demo-bot.json"


def bot_config_path(settings: Settings) -> Path:
    """Where the demo writes what examples/demo_bot.py needs (its key is shown nowhere else)."""
    return Path(settings.data_dir) / BOT_CONFIG


async def seed_demo_bot(
    store: Store,
    directory: Directory,
    settings: Settings,
    api_keys: ApiKeys,
    reload: Callable[[], Awaitable[None]],
    now: float,
) -> None:
    """The demo bot: an integration touchpoint whose webhook is examples/demo_bot.py on
    a loopback port the OS gives (:func:`bot_port`), the chat touchpoints that hand their
    chats to it first, and a key for it, written with its signing secret and port to
    ``<data_dir>/demo-bot.json`` (mode 0600) whenever that file is missing, its key no
    longer works or the port moved."""
    port = demo_port(settings)
    path = bot_config_path(settings)
    bot = directory.touchpoints.get(DEMO_BOT)
    bot_port = await asyncio.to_thread(
        _bot_port, str(bot.settings.get("webhook_url", "")) if bot else "", settings
    )
    hook = f"http://127.0.0.1:{bot_port}/events"
    changed = False
    if bot is None or bot.settings.get("webhook_url") != hook:
        secret = (bot.settings.get("signing_secret") if bot else None) or secrets.token_hex(32)
        await store.put_touchpoint(
            Touchpoint(
                id=DEMO_BOT,
                name="Demo bot",
                channel="api",
                active=True,
                direction="both",
                routing_mode="flow",
                queue_ids=["q_support"],
                flow={"default": {"queue_ids": ["q_support"], "priority": 1}},
                settings={
                    "webhook_url": hook,
                    "signing_secret": secret,
                    "require_signed_requests": False,
                },
                created_at=bot.created_at if bot else now,
            )
        )
        changed = True
    for tp in demo_bot_touchpoints(port, now):
        current = directory.touchpoints.get(tp.id)
        if current is None or current.domain != tp.domain:
            if current is not None:
                tp = msgspec.structs.replace(current, domain=tp.domain)
            await store.put_touchpoint(tp)
            changed = True
    if changed:
        await reload()
    # from the store: with a cluster link, the reload reaches this node's directory later
    bot = await store.get_touchpoint(DEMO_BOT)
    if await _bot_config_works(path, api_keys, bot, settings, bot_port):
        return
    _, key = await api_keys.create(DEMO_BOT, "demo bot")
    config = {
        "gateway": f"http://127.0.0.1:{settings.port}",
        "touchpoint_id": DEMO_BOT,
        "api_key": key,
        "signing_secret": bot.settings["signing_secret"],
        "port": bot_port,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # written aside and renamed: the bot (examples/demo_bot.py --wait) reads the file
    # while the gateway starts, and must never read it half-written
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(config, f)
    os.replace(aside, path)
    log.warning("demo bot configured in %s (chats of /demo/bot go to it first)", path)


def _bot_port(hook: str, settings: Settings) -> int:
    """The bot's port: the one its webhook has while nothing listens there (the bot that
    ./scripts/serve starts listens only once the gateway is up), else a free one the OS
    gives on 127.0.0.1. Never a fixed one next to the gateway's: GATEWAY_PORT + 1 is
    another node's (./scripts/cluster, gateway@8001), and taken it left the demo without
    its bot."""
    try:
        kept = urlsplit(hook).port if hook.startswith("http://127.0.0.1:") else None
    except ValueError:
        kept = None
    # GATEWAY_PORT + 1: where a demo before this one put it
    if kept and kept != settings.port + 1:
        with socket.socket() as sock:
            # as the bot's server binds (asyncio): a port its last connections left in
            # TIME_WAIT is free to it
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", kept))
                return kept
            except OSError:
                pass
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _bot_config_works(
    path: Path, api_keys: ApiKeys, bot: Touchpoint, settings: Settings, bot_port: int
) -> bool:
    try:
        config = json.loads(await asyncio.to_thread(path.read_text))
        await api_keys.authenticate(DEMO_BOT, str(config["api_key"]))
    except Exception:
        return False
    return bool(
        config.get("signing_secret") == bot.settings.get("signing_secret")
        and config.get("port") == bot_port
        and config.get("gateway") == f"http://127.0.0.1:{settings.port}"
    )
