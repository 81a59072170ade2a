"""A start whose routing failed after the router decided (its log entry not published,
its decisions not carried out, the task cancelled) is still assigned: the router and the
store are apart, so the router is rebuilt from the store before the next event, soon,
and the visitor's retry is not taken for a conversation already routed
(docs/scaling.md, "Forwarding"). With no retry and no other event, the router's
timer brings the rebuild."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from devkit.inprocess import InProcessGateway
from gateway.errors import BusUnavailable
from gateway.services.effects import Effects
from tests.gateway.client import AgentClient, Visitor
from tests.gateway.conftest import InProcessFactory, auto_agent_node


async def _auto_node(
    inprocess_factory: InProcessFactory,
) -> tuple[InProcessGateway, AgentClient, Visitor, Effects]:
    """A node whose touchpoint assigns on arrival (no offer to time out: what the router
    decided and the store never heard of would stay so), an agent and a visitor on it."""

    node, agent = await auto_agent_node(inprocess_factory)
    visitor = Visitor(node, "tp_auto", node.base_url + "/demo", origin=node.base_url)
    await visitor.bootstrap()
    await visitor.connect()
    effects = node.node.shell.effects
    assert effects is not None and visitor.sock and agent.sock
    return node, agent, visitor, effects


async def _assigned(node: InProcessGateway, agent: AgentClient) -> str:
    """The conversation the agent is told is theirs, checked against the store."""
    assert agent.sock
    told = await agent.sock.expect("conversation", timeout=30)
    while told["conversation"]["place"] != "assigned":
        told = await agent.sock.expect("conversation", timeout=30)
    conv: str = told["conversation"]["conversation_id"]
    stored = await node.node.store.get_conversation(conv)
    assert stored.state == "assigned" and stored.owner_agent_id == "ag_x"
    return conv


def _start() -> dict[str, Any]:
    return {
        "type": "start",
        "fields": {"name": "Lin"},
        "message": "Hello",
        "client_msg_id": uuid.uuid4().hex,
    }


@pytest.mark.parametrize("retried", [True, False], ids=["retried", "left"])
async def test_a_start_whose_routing_failed_half_way_is_still_assigned(
    inprocess_factory: InProcessFactory, retried: bool
) -> None:
    node, agent, visitor, effects = await _auto_node(inprocess_factory)
    carry_out = effects.carry_out
    failed: list[str] = []

    async def once(*args: Any, **kw: Any) -> None:
        # as a leader's log entry whose PUBLISH timed out under load: the router has
        # decided, nothing of it was carried out
        if not failed:
            failed.append("x")
            raise BusUnavailable("Redis: Timeout reading from socket")
        await carry_out(*args, **kw)

    effects.carry_out = once  # type: ignore[method-assign]
    assert visitor.sock
    start = _start()
    await visitor.sock.send(start)
    refused = await visitor.sock.expect("error")
    assert refused["retryable"], refused
    if retried:
        # the widget tries again, as the benchmark's visitors do
        await visitor.sock.send(start)
        started = await visitor.sock.expect("started")
        await visitor.sock.expect("ack", client_msg_id=start["client_msg_id"])
    # without a retry, nor any other event: the rebuild comes by the router's timer
    conv = await _assigned(node, agent)
    if retried:
        assert conv == started["conversation_id"]


async def test_an_assignment_stored_but_not_told_reaches_the_agent_after_the_rebuild(
    inprocess_factory: InProcessFactory,
) -> None:
    """The assignment is written, then telling fails (here: handing the contact the
    "agent joined" event raises): the rebuild restores it from the store and sends the
    agent the conversation's row, or the agent would never see it until they reconnect."""

    node, agent, visitor, effects = await _auto_node(inprocess_factory)
    deliver = effects.deliver
    failed: list[str] = []

    async def once(*args: Any, **kw: Any) -> None:
        if not failed:
            failed.append("x")
            raise RuntimeError("the contact side failed")
        await deliver(*args, **kw)

    effects.deliver = once  # type: ignore[method-assign]
    assert visitor.sock
    await visitor.sock.send(_start())
    await visitor.sock.expect("error")
    assert failed
    await _assigned(node, agent)
