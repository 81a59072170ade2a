"""Routing modes per channel come from RouterConfig.channel_modes (the gateway's channel
definitions); the router has no channel rules of its own."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import msgspec
import pytest

import routing
from routing import (
    AgentStatusChanged,
    Assigned,
    ConversationArrived,
    RouterConfig,
    RoutingError,
    TouchpointUpserted,
    digest,
    export_snapshot,
    restore_snapshot,
)

from .support import CHANNEL_MODES, T0, only, world

GATEWAY = RouterConfig(channel_modes=CHANNEL_MODES)


def refusal(r: routing.Router, event: TouchpointUpserted) -> str:
    """The refusal's message, after checking that it changed nothing."""
    before = export_snapshot(r)
    with pytest.raises(RoutingError) as err:
        r.handle(event, T0)
    assert err.value.code == "invalid_touchpoint"
    assert export_snapshot(r) == before
    return err.value.message


@pytest.mark.parametrize(
    ("channel", "mode", "message"),
    [
        ("chat", "simplified", "chat touchpoints support only the flow routing mode"),
        ("chat", "dedicated", "chat touchpoints support only the flow routing mode"),
        (
            "email",
            "dedicated",
            "email touchpoints support only the simplified and flow routing modes",
        ),
    ],
)
def test_a_listed_channel_refuses_other_modes_naming_the_channel_and_its_modes(
    channel: str, mode: Any, message: str
) -> None:
    r = world(GATEWAY)
    event = TouchpointUpserted("t", channel, mode, ["sales"], dedicated_agent_id="ann")
    assert refusal(r, event) == message
    with pytest.raises(RoutingError) as err:  # and the touchpoint was not created
        r.handle(ConversationArrived("n", "t", channel), T0)
    assert err.value.code == "unknown_touchpoint"


def test_a_listed_channel_accepts_its_modes() -> None:
    r = world(GATEWAY, available=["ann"])
    r.handle(TouchpointUpserted("t", "sms", "dedicated", ["sales"], dedicated_agent_id="ann"), T0)
    out = r.handle(ConversationArrived("n", "t", "sms"), T0 + 1)
    assert only(out, Assigned) == [Assigned("n", "ann", 10, "dedicated", dedicated=True)]


def test_an_unlisted_channel_allows_every_mode() -> None:
    r = world(RouterConfig(channel_modes={"chat": ["flow"]}), available=["ann"])
    r.handle(TouchpointUpserted("wa", "whatsapp", "dedicated", [], dedicated_agent_id="ann"), T0)
    r.handle(TouchpointUpserted("wa2", "whatsapp", "simplified", ["sales"]), T0)
    out = r.handle(ConversationArrived("n", "wa", "whatsapp"), T0 + 1)
    assert only(out, Assigned) == [Assigned("n", "ann", 10, "dedicated", dedicated=True)]
    # With no channel_modes at all no channel is special, chat included.
    r = world()
    r.handle(TouchpointUpserted("t", "chat", "simplified", ["sales"]), T0)
    r.handle(TouchpointUpserted("d", "email", "dedicated", [], dedicated_agent_id="ann"), T0)
    r.handle(ConversationArrived("c", "t", "chat"), T0 + 1)
    r.handle(ConversationArrived("e", "d", "email"), T0 + 1)
    c, e = r.conversation("c"), r.conversation("e")
    assert c is not None and c.mode == "simplified" and c.state == "waiting"
    assert e is not None and e.dedicated and e.dedicated_agent_id == "ann"


@pytest.mark.parametrize(("config", "channel"), [(RouterConfig(), "email"), (GATEWAY, "sms")])
def test_a_dedicated_touchpoint_names_its_agent_whatever_the_config(
    config: RouterConfig, channel: str
) -> None:
    message = refusal(world(config), TouchpointUpserted("t", channel, "dedicated", ["sales"]))
    assert message == "dedicated-agent routing names its agent (dedicated_agent_id)"


@pytest.mark.parametrize(
    ("modes", "message"),
    [
        (
            {"chat": ["flow", "ivr"]},
            "unknown routing mode(s) 'ivr'; known: simplified, dedicated, flow",
        ),
        ({"chat": []}, "must be a non-empty list of routing modes"),
        ({"chat": "flow"}, "must be a non-empty list of routing modes"),
    ],
)
def test_validated_refuses_unknown_or_missing_modes(modes: Any, message: str) -> None:
    with pytest.raises(RoutingError, match="channel_modes\\['chat'\\]") as err:
        routing.Router(RouterConfig(channel_modes=modes))
    assert message in err.value.message


def test_equal_configs_are_canonical_whatever_the_order_they_were_written_in() -> None:
    sms: list[Any] = ["flow", "dedicated", "simplified", "flow"]
    a = RouterConfig(channel_modes={"sms": sms, "chat": ["flow"]})
    b = RouterConfig(channel_modes={"chat": ["flow"], "sms": ["simplified", "dedicated", "flow"]})
    assert a.validated() == b.validated()
    assert list(a.validated().channel_modes) == ["chat", "sms"]
    assert a.validated().channel_modes["sms"] == ["simplified", "dedicated", "flow"]
    ra, rb = world(a), world(b)
    assert export_snapshot(ra) == export_snapshot(rb) and digest(ra) == digest(rb)
    assert digest(ra) != digest(world())  # the modes are part of the state


def test_the_snapshot_carries_channel_modes_to_a_replica() -> None:
    r = world(GATEWAY, available=["ann"])
    r.handle(ConversationArrived("w1", "web", "chat"), T0 + 1)
    stored = msgspec.msgpack.decode(export_snapshot(r))["config"]["channel_modes"]
    assert stored == dict(sorted(CHANNEL_MODES.items()))
    replica = restore_snapshot(export_snapshot(r))
    assert replica.config.channel_modes == GATEWAY.validated().channel_modes
    assert digest(replica) == digest(r)
    message = refusal(replica, TouchpointUpserted("t", "chat", "simplified", ["sales"]))
    assert message == "chat touchpoints support only the flow routing mode"
    out = replica.handle(AgentStatusChanged("bob", "available"), T0 + 2)
    assert out == r.handle(AgentStatusChanged("bob", "available"), T0 + 2)


def test_without_channel_modes_the_snapshot_does_not_mention_them() -> None:
    """So a router configured as before the field existed snapshots to the same bytes."""
    config = msgspec.msgpack.decode(export_snapshot(world()))["config"]
    assert list(config) == [
        "offer_timeout",
        "reoffer_cooldown",
        "channel_weights",
        "default_weight",
    ]
    assert restore_snapshot(export_snapshot(world())).config.channel_modes == {}


def test_no_channel_name_is_a_rule_in_the_router() -> None:
    """ "chat" and "sms" appear in routing/ only as default weights (data)."""
    found = []
    for path in sorted(Path(routing.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        allowed: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                if isinstance(target, ast.Name) and target.id == "DEFAULT_WEIGHTS":
                    allowed.update(id(n) for n in ast.walk(node))
        found += [
            f"{path.name}:{n.lineno}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant)
            and isinstance(n.value, str)
            and n.value.lower() in ("chat", "sms")
            and id(n) not in allowed
        ]
    assert found == []
