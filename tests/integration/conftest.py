"""A real gateway with the demo data and an integration touchpoint, real webhook
receivers on loopback, and the example client (examples/gateway_client.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from devkit import services
from examples.gateway_client import IntegrationClient
from gateway.model.records import Conversation
from gateway.ports.store import create_store
from gateway.ports.store.base import Store
from tests.gateway.conftest import ADMIN
from tests.integration.receiver import Receiver

T = TypeVar("T")

SECRET = "integration-signing-secret-0123456789abcdef"
HOOK_SECRET = "automation-signing-secret-9876543210fedcba"


@dataclass
class Node:
    """A gateway process and what a test needs to restart it on the same database."""

    proc: services.GatewayProcess
    env: dict[str, str]
    database_url: str

    @property
    def base_url(self) -> str:
        return self.proc.base_url

    def restart(self) -> None:
        self.proc = services.start_gateway(self.env, port=self.proc.port)

    def conversations(self, touchpoint_id: str) -> list[Conversation]:
        """What the store holds, read from the database itself."""
        return self.with_store(lambda store: store.list_conversations(touchpoint_id=touchpoint_id))

    def with_store(self, body: Callable[[Store], Awaitable[T]]) -> T:
        """``body`` on a store of the gateway's database, opened beside the gateway (in a
        thread of its own: the test's event loop may be running)."""

        async def run() -> T:
            store = create_store(self.database_url)
            await store.open()
            try:
                return await body(store)
            finally:
                await store.close()

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, run()).result()


@pytest.fixture
def node_factory() -> Iterator[Callable[..., Node]]:
    nodes: list[Node] = []

    def start(env: dict[str, str] | None = None) -> Node:
        tmp = Path(tempfile.mkdtemp(prefix="gw-int-"))
        url = f"sqlite:///{tmp}/gateway.db"
        full = {
            "GATEWAY_DATABASE_URL": url,
            "GATEWAY_DEMO": "1",
            "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
            **(env or {}),
        }
        node = Node(services.start_gateway(full), full, url)
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.proc.stop()


@pytest.fixture
def node(node_factory: Callable[..., Node]) -> Node:
    return node_factory()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver(SECRET)
    await r.start()
    yield r
    await r.stop()


async def admin_client(node: Node) -> httpx.AsyncClient:
    async with node.proc.http(timeout=services.LOGIN_TIMEOUT) as http:
        r = await http.post("/api/login", json={"email": ADMIN[0], "password": ADMIN[1]})
    assert r.status_code == 200, r.text
    return httpx.AsyncClient(
        base_url=node.base_url,
        headers={"Authorization": f"Bearer {r.json()['token']}"},
        timeout=10,
    )


async def integration(
    admin: httpx.AsyncClient,
    tp_id: str,
    webhook_url: str,
    *,
    flow: dict[str, Any] | None = None,
    **settings: Any,
) -> str:
    """An active integration touchpoint routed to the demo queue (auto-accept: the demo
    agent, when online, holds its conversations at once) and an API key of it."""
    body = {
        "id": tp_id,
        "name": f"Integration {tp_id}",
        "channel": "api",
        "direction": "both",
        "routing_mode": "flow",
        "queue_ids": ["q_support"],
        "flow": flow or {"default": {"queue_ids": ["q_support"], "acceptance": "auto"}},
        "settings": {"webhook_url": webhook_url, "signing_secret": SECRET, **settings},
    }
    r = await admin.post("/api/admin/touchpoints", json=body)
    assert r.status_code == 201, r.text
    r = await admin.post(f"/api/admin/touchpoints/{tp_id}/activate")
    assert r.status_code == 200, r.text
    r = await admin.post(f"/api/admin/touchpoints/{tp_id}/api-keys", json={"name": "tests"})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def client(node: Node, tp_id: str, key: str, **kwargs: Any) -> IntegrationClient:
    return IntegrationClient(node.base_url, tp_id, key, **kwargs)
