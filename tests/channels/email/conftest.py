"""A real node (SQLite, in-process services) with the email adapter, the session's
Dovecot and an aiosmtpd server per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from channels.email import EmailChannel
from devkit import services
from gateway.app import Node
from gateway.model.records import Agent, Queue, Touchpoint
from gateway.settings import load_settings
from tests.channels.email.mail import SmtpServer, new_mailbox, settings_for

NodeFactory = Callable[[], Awaitable[Node]]


@pytest.fixture
def mailbox(dovecot: services.Dovecot) -> tuple[str, str]:
    return new_mailbox(dovecot)


@pytest.fixture
async def make_node(tmp_path: Path) -> AsyncIterator[NodeFactory]:
    """Nodes on one SQLite database (a restart is a new node on the same file)."""
    nodes: list[Node] = []

    async def make() -> Node:
        settings = load_settings(
            {
                "GATEWAY_DATA_DIR": str(tmp_path),
                "GATEWAY_SECRET_KEY": "k" * 40,
                "GATEWAY_DEMO": "false",
            }
        )
        node = Node(settings)
        await node.start()
        node.deliveries.poll = 0.05
        nodes.append(node)
        return node

    try:
        yield make
    finally:
        for node in nodes:
            if node.store._db is not None:  # type: ignore[attr-defined]
                await node.stop()


def email_channel(node: Node) -> EmailChannel:
    [channel] = [c for c in node.channels if isinstance(c, EmailChannel)]
    return channel


async def setup_touchpoint(
    node: Node, dovecot: services.Dovecot, smtp: SmtpServer, address: str, **extra: Any
) -> Touchpoint:
    """The queue, the agent and an active email touchpoint reading ``address``."""
    store = node.store
    await store.put_queue(Queue(id="q", name="Q"))
    await store.put_agent(Agent(id="ag", email="ada@agents.test", name="Ada", queue_ids=["q"]))
    await store.put_agent(
        Agent(id="adm", email="grace@admins.test", name="Grace", role="admin", queue_ids=["q"])
    )
    channel = email_channel(node)
    tp = Touchpoint(
        id="tp_mail",
        name="Support",
        channel="email",
        active=True,
        direction="both",
        routing_mode="simplified",
        queue_ids=["q"],
        settings=settings_for(dovecot, smtp, address, **extra),
    )
    tp, problems = channel.check_touchpoint(tp)
    assert problems == []
    await store.put_touchpoint(tp)
    await node.shell.config_changed()
    await node.agents.online("ag")
    return tp
