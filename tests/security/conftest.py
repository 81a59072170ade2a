"""Real gateways for the attacker's tests: the demo data plus a second queue with its own
agent, and touchpoints that take signed identity (one requires it)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from channels.chat.demo import FLOW
from devkit import services
from gateway.model.records import FormField, Queue, Touchpoint
from tests.gateway.client import AgentClient, Visitor
from tests.gateway.conftest import agent_record, seed

SECRET_REQUIRED = "site-secret-required-0123456789-abcdef"
SECRET_OPTIONAL = "site-secret-optional-9876543210-fedcba"
# Generous limits: the limits have tests of their own, on gateways of their own.
UNLIMITED = {
    "GATEWAY_FRAMES_PER_MINUTE": "0",
    "GATEWAY_CONNECTIONS_PER_IP_PER_HOUR": "0",
    "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
    "GATEWAY_CONVERSATIONS_PER_TOUCHPOINT_PER_HOUR": "0",
}
BILLING_FLOW = {"default": {"queue_ids": ["q_billing"], "priority": 1, "acceptance": "manual"}}


def _touchpoint(tp_id: str, domain: str, **extra: object) -> Touchpoint:
    fields: dict[str, object] = {
        "id": tp_id,
        "name": tp_id,
        "channel": "chat",
        "active": True,
        "routing_mode": "flow",
        "domain": domain,
        "queue_ids": ["q_support"],
        "flow": FLOW,
        "form": [
            FormField(name="name", label="Your name", max_length=80),
            FormField(name="email", label="Email", kind="email"),
        ],
        "created_at": 0.0,
        **extra,
    }
    return Touchpoint(**fields)  # type: ignore[arg-type]


def seed_security(database_url: str, port: int) -> None:
    domain = f"127.0.0.1:{port}"
    seed(
        database_url,
        queues=[Queue(id="q_support", name="Support"), Queue(id="q_billing", name="Billing")],
        agents=[agent_record("ag_billing", "billing@demo.test", ["q_billing"])],
        touchpoints=[
            _touchpoint(
                "tp_signed_required",
                domain,
                identity_secret=SECRET_REQUIRED,
                require_identity=True,
            ),
            _touchpoint("tp_signed", domain, identity_secret=SECRET_OPTIONAL),
            _touchpoint("tp_billing", domain, queue_ids=["q_billing"], flow=BILLING_FLOW),
        ],
    )


def start_node(env: dict[str, str] | None = None) -> services.GatewayProcess:
    tmp = Path(tempfile.mkdtemp(prefix="gw-sec-"))
    url = f"sqlite:///{tmp}/gateway.db"
    port = services.free_port()
    seed_security(url, port)
    return services.start_gateway(
        {"GATEWAY_DATABASE_URL": url, "GATEWAY_DEMO": "1", **UNLIMITED, **(env or {})}, port=port
    )


@pytest.fixture(scope="module")
def node() -> Iterator[services.GatewayProcess]:
    """One gateway for a module whose tests do not disturb each other."""
    gw = start_node()
    yield gw
    gw.stop()


@pytest.fixture
def node_factory() -> Iterator[Callable[..., services.GatewayProcess]]:
    nodes: list[services.GatewayProcess] = []

    def start(env: dict[str, str] | None = None) -> services.GatewayProcess:
        gw = start_node(env)
        nodes.append(gw)
        return gw

    yield start
    for gw in nodes:
        gw.stop()


def visitor(node: services.GatewayProcess, touchpoint: str = "tp_demo_127") -> Visitor:
    """A visitor embedding by script on a page of 127.0.0.1:<port>."""
    return Visitor(node, touchpoint, f"http://127.0.0.1:{node.port}/shop", origin=node.base_url)


def agent(node: services.GatewayProcess, email: str, password: str) -> AgentClient:
    return AgentClient(node, email, password)


async def bootstrap(
    node: services.GatewayProcess,
    body: dict[str, object],
    origin: str | None = "SELF",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    hdrs = dict(headers or {})
    if origin is not None:
        hdrs["Origin"] = node.base_url if origin == "SELF" else origin
    async with httpx.AsyncClient() as http:
        return await http.post(node.base_url + "/widget/bootstrap", json=body, headers=hdrs)
