"""Gateways with the demo data: a real process per test (or per module) on a free port,
or the app in-process (devkit.inprocess) for tests of what the services do."""

from __future__ import annotations

import asyncio
import concurrent.futures
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from devkit import services
from devkit.endpoint import Endpoint
from devkit.inprocess import InProcessGateway, gateway_fixture
from devkit.passwords import cheap_hash
from gateway.demo import seed_demo
from gateway.model.records import Agent, FormField, Queue, Touchpoint
from gateway.ports.store import create_store
from gateway.services.directory import Directory
from gateway.settings import Settings
from tests.gateway.client import AgentClient, Visitor

AGENT = ("agent@demo.test", "demo-agent")
ADMIN = ("admin@demo.test", "demo-admin")


def seed(
    database_url: str,
    *,
    agents: list[Agent] = (),
    touchpoints: list[Touchpoint] = (),
    queues: list[Queue] = (),
) -> None:  # type: ignore[assignment]
    """Write configuration into a store before a gateway starts on it. With agents, the
    demo data first: GATEWAY_DEMO seeds only a store with no agents at all."""

    async def run() -> None:
        store = create_store(database_url)
        await store.open()
        try:
            if agents:
                directory = Directory(store)
                await directory.load()
                settings = Settings(database_url=database_url, demo=True)
                await seed_demo(store, directory, settings, directory.load, time.time())
            for q in queues:
                await store.put_queue(q)
            for a in agents:
                await store.put_agent(a)
            for t in touchpoints:
                await store.put_touchpoint(t)
        finally:
            await store.close()

    # Tests call this from inside their own event loop: run it on a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, run()).result()


def auto_touchpoint(port: int) -> Touchpoint:
    """A chat touchpoint whose conversations are assigned on arrival (q_support, no offer
    to accept or time out): the relay benchmark's."""
    return Touchpoint(
        id="tp_auto",
        name="Auto",
        channel="chat",
        active=True,
        routing_mode="flow",
        domain=f"127.0.0.1:{port}",
        queue_ids=["q_support"],
        flow={"default": {"queue_ids": ["q_support"], "priority": 1, "acceptance": "auto"}},
        form=[FormField(name="name", label="Your name", max_length=80)],
        created_at=time.time(),
    )


async def auto_agent_node(
    inprocess_factory: InProcessFactory,
) -> tuple[InProcessGateway, AgentClient]:
    """A node with :func:`auto_touchpoint` and agent ``ag_x`` (x@test, q_support), logged
    in and connected: conversations started on ``tp_auto`` are assigned to them."""

    def setup(url: str, port: int) -> None:
        tp = auto_touchpoint(port)
        seed(url, agents=[agent_record("ag_x", "x@test", ["q_support"])], touchpoints=[tp])

    node = await inprocess_factory(setup=setup)
    agent = AgentClient(node, "x@test", "pw-ag_x")
    await agent.login()
    await agent.connect()
    assert agent.sock
    return node, agent


def agent_record(agent_id: str, email: str, queues: list[str], role: str = "agent") -> Agent:
    return Agent(
        id=agent_id,
        email=email,
        name=agent_id.title(),
        role=role,  # type: ignore[arg-type]
        queue_ids=queues,
        password_hash=cheap_hash("pw-" + agent_id),
    )


@pytest.fixture
def gateway_factory() -> Iterator[Callable[..., services.GatewayProcess]]:
    nodes: list[services.GatewayProcess] = []

    def start(
        env: dict[str, str] | None = None, *, setup: Callable[[str, int], None] | None = None
    ) -> services.GatewayProcess:
        """Start a gateway; ``setup(database_url, port)`` may seed its store first."""
        tmp = Path(tempfile.mkdtemp(prefix="gw-test-"))
        url = f"sqlite:///{tmp}/gateway.db"
        full = {"GATEWAY_DATABASE_URL": url, "GATEWAY_DEMO": "1", **(env or {})}
        port = services.free_port()
        if setup is not None:
            setup(full["GATEWAY_DATABASE_URL"], port)
        node = services.start_gateway(full, port=port)
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        node.stop()


@pytest.fixture(scope="module")
def shared_gateway() -> Iterator[services.GatewayProcess]:
    """One gateway for a module whose tests do not disturb each other."""
    node = services.start_gateway({"GATEWAY_DEMO": "1"})
    yield node
    node.stop()


@pytest.fixture
def gateway(gateway_factory: Callable[..., services.GatewayProcess]) -> services.GatewayProcess:
    return gateway_factory()


InProcessFactory = Callable[..., Awaitable[InProcessGateway]]


@pytest_asyncio.fixture
async def inprocess_factory() -> AsyncIterator[InProcessFactory]:
    """Like gateway_factory, with the app in-process: ``await start(env, setup=...)``."""
    started: list[InProcessGateway] = []

    async def start(
        env: dict[str, str] | None = None, *, setup: Callable[[str, int], None] | None = None
    ) -> InProcessGateway:
        """Start an in-process gateway; ``setup(database_url, port)`` may seed its store."""
        gw = InProcessGateway({"GATEWAY_DEMO": "1", **(env or {})})
        if setup is not None:
            setup(gw.database_url, gw.port)
        await gw.start()
        started.append(gw)
        return gw

    yield start
    for gw in started:
        await gw.stop()


@pytest_asyncio.fixture
async def inprocess_gateway(inprocess_factory: InProcessFactory) -> InProcessGateway:
    """The app in-process with the demo data, for one test."""
    return await inprocess_factory()


shared_inprocess = gateway_fixture({"GATEWAY_DEMO": "1"}, scope="module")
"""The app in-process for a module whose tests do not disturb each other (the module's
tests run in its event loop: ``pytestmark = pytest.mark.asyncio(loop_scope="module")``)."""


def demo_visitor(node: Endpoint) -> Visitor:
    """A visitor on the demo page, embedding by script (Origin = the page's origin)."""
    return Visitor(
        node,
        "tp_demo_127",
        f"http://127.0.0.1:{node.port}/demo",
        origin=f"http://127.0.0.1:{node.port}",
    )


def demo_agent(node: Endpoint) -> AgentClient:
    return AgentClient(node, *AGENT)
