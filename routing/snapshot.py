"""Snapshot and restore: the router's whole state as canonical msgpack bytes.

Canonical (records sorted, ephemeral sequence numbers left out) so that equal states give
equal bytes, which makes ``Router.digest`` a test of replay determinism. Conversations are
stored as the same ``ConversationRestored`` events the gateway uses to rebuild from the
database, so one code path serves both. Indexes and heaps are rebuilt, not stored."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from routing.events import ConversationRestored, TouchpointUpserted
from routing.model import Role, RouterConfig, Status

if TYPE_CHECKING:
    from routing.router import Router

VERSION = 1


class AgentRecord(msgspec.Struct, frozen=True, array_like=True):
    agent_id: str
    queue_ids: list[str]
    role: Role
    status: Status
    idle_since: float


class Snapshot(msgspec.Struct, frozen=True):
    version: int
    config: RouterConfig
    agents: list[AgentRecord]
    touchpoints: list[TouchpointUpserted]
    conversations: list[ConversationRestored]  # in arrival order


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Snapshot)


def encode(router: Router) -> bytes:
    weights, agents, touchpoints, convs = router._export()
    config = msgspec.structs.replace(router.config, channel_weights=dict(sorted(weights.items())))
    return _encoder.encode(
        Snapshot(
            version=VERSION,
            config=config,
            agents=[
                AgentRecord(a.agent_id, list(a.queue_ids), a.role, a.status, a.idle_since)
                for a in sorted(agents, key=lambda a: a.agent_id)
            ],
            touchpoints=sorted((t.event for t in touchpoints), key=lambda t: t.touchpoint_id),
            conversations=[
                ConversationRestored(
                    conversation_id=c.conversation_id,
                    touchpoint_id=c.touchpoint_id,
                    channel=c.channel,
                    state=c.state,
                    queue_ids=list(c.queue_ids),
                    priority=c.priority,
                    arrived_at=c.arrived_at,
                    mode=c.mode,
                    acceptance=c.acceptance,
                    owner_agent_id=c.owner,
                    weight=c.weight,
                    dedicated_agent_id=c.dedicated_agent,
                    offer_agent_id=c.offer_agent,
                    offer_expires_at=c.offer_expires,
                    cooldowns=dict(sorted(c.cooldown.items())),
                )
                for c in sorted(convs, key=lambda c: (c.key[1], c.key[2]))
            ],
        )
    )


def decode(data: bytes) -> Router:
    from routing.router import Router

    snap = _decoder.decode(data)
    if snap.version != VERSION:
        raise ValueError(f"snapshot version {snap.version}, expected {VERSION}")
    router = Router(snap.config)
    router._quiet(snap.touchpoints)
    for a in snap.agents:
        router._import_agent(a.agent_id, a.queue_ids, a.role, a.status, a.idle_since)
    router._quiet(snap.conversations)
    return router
