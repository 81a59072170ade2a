"""The router's whole state as plain records: what ``Router.export_state`` returns and
``Router.from_state`` rebuilds from.

Records, not internals, so that serialisers (``routing.snapshot``) depend on the router
and never the reverse. Conversations are the same ``ConversationRestored`` events the
gateway uses to rebuild from the database, so one code path serves both. Indexes, heaps
and sequence numbers are not part of it: they are rebuilt."""

from __future__ import annotations

import msgspec

from routing.events import ConversationRestored, TouchpointUpserted
from routing.model import Role, RouterConfig, Status


class AgentRecord(msgspec.Struct, frozen=True, array_like=True):
    agent_id: str
    queue_ids: list[str]
    role: Role
    status: Status
    idle_since: float


class RouterState(msgspec.Struct, frozen=True):
    """In canonical order, so that equal states give equal records."""

    config: RouterConfig  # channel_weights: the current weights, sorted by channel
    agents: list[AgentRecord]  # by agent id
    touchpoints: list[TouchpointUpserted]  # by touchpoint id
    conversations: list[ConversationRestored]  # in arrival order
