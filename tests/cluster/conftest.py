"""Several real gateway nodes on one real Redis and one real PostgreSQL."""

from __future__ import annotations

import json
import signal
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from devkit import services
from tests.gateway.client import AgentClient, Visitor


@dataclass
class Cluster:
    pg: services.Postgres
    database_url: str
    redis: services.Redis
    public: str  # the load balancer's origin, shared by every node
    nodes: list[services.GatewayProcess] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    _count: int = 0

    def env(self) -> dict[str, str]:
        self._count += 1
        return {
            "GATEWAY_DATABASE_URL": self.database_url,
            "GATEWAY_REDIS_URL": self.redis.url,
            "GATEWAY_PUBLIC_URL": self.public,
            "GATEWAY_ROUTER_LEASE": "2",
            "GATEWAY_DEMO": "1",
            "GATEWAY_NODE_ID": f"n{self._count}",
            **self.extra_env,
        }

    def start_node(self, port: int | None = None) -> services.GatewayProcess:
        node = services.start_gateway(self.env(), port=port)
        self.nodes.append(node)
        return node

    def alive(self) -> list[services.GatewayProcess]:
        return [n for n in self.nodes if n.alive()]

    @staticmethod
    def readiness(node: services.GatewayProcess) -> dict[str, object]:
        with urllib.request.urlopen(node.base_url + "/readyz", timeout=2) as r:
            body: dict[str, object] = json.loads(r.read())
            return body

    def leader(self) -> services.GatewayProcess | None:
        for node in self.alive():
            try:
                if self.readiness(node)["router_leader"]:
                    return node
            except OSError:
                continue
        return None

    def visitor(self, node: services.GatewayProcess) -> Visitor:
        return Visitor(node, "tp_demo_127", self.public + "/demo", origin=self.public)

    def agent(
        self,
        node: services.GatewayProcess,
        email: str = "agent@demo.test",
        password: str = "demo-agent",
    ) -> AgentClient:
        return AgentClient(node, email, password, origin=self.public)

    async def offered_chat(
        self, agent_node: services.GatewayProcess, visitor_node: services.GatewayProcess
    ) -> tuple[AgentClient, Visitor, str]:
        """The demo agent online on ``agent_node``, a visitor on ``visitor_node`` who
        started a conversation, and the agent rung with its offer."""
        agent = self.agent(agent_node)
        await agent.login()
        await agent.connect()
        visitor = self.visitor(visitor_node)
        await visitor.bootstrap()
        await visitor.connect()
        cid = await visitor.start(name="Kim")
        assert agent.sock and visitor.sock
        await agent.sock.expect("offer", timeout=30)
        return agent, visitor, cid

    def describe(self, tail: int = 4000) -> str:
        """Each node's state and the end of its log: what a failed test prints (the
        logs go with their temporary directories when the cluster stops)."""
        parts = []
        for i, node in enumerate(self.nodes, 1):
            state = "alive" if node.alive() else f"exited with {node.proc.returncode}"
            try:
                log = node.output()[-tail:]
            except OSError as exc:
                log = f"(no log: {exc})"
            parts.append(f"node {i} ({node.base_url}, {node.log}): {state}\n{log}")
        return "\n".join(parts)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(signal.SIGKILL if not node.alive() else signal.SIGTERM)
        self.redis.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test on a cluster reports how each node was doing, and its log."""
    outcome = yield
    report = outcome.get_result()
    cluster = getattr(item, "funcargs", {}).get("cluster")
    if report.when == "call" and report.failed and isinstance(cluster, Cluster):
        report.sections.append(("cluster nodes", cluster.describe()))


@pytest.fixture
def cluster(postgres: services.Postgres) -> Iterator[Cluster]:
    url = services.createdb(postgres, f"cluster_{uuid.uuid4().hex[:8]}")
    redis = services.start_redis()
    c = Cluster(postgres, url, redis, f"http://127.0.0.1:{services.free_port()}")
    try:
        yield c
    finally:
        c.stop()
