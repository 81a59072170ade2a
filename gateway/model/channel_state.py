"""What the core keeps for channel adapters beyond conversations and messages
(docs/channels.md, "State an adapter keeps"): a touchpoint's cursor in its provider's
stream, its connection to the provider, the provider's references to messages, and a
message's channel content. The email channel is the first to use each."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

# connected: the adapter reaches the provider; lost: it does not (reason says why), and
# an admin must act (reconnect, reauthenticate); connecting: not known yet
ConnectionStatus = Literal["connecting", "connected", "lost"]


class Cursor(msgspec.Struct, frozen=True, kw_only=True):
    """Where a touchpoint stopped in a numbered stream (email: the mailbox's UIDVALIDITY
    as the epoch, the last UID committed as the position)."""

    touchpoint_id: str
    stream: str
    epoch: str
    position: int
    updated_at: float


class Connection(msgspec.Struct, frozen=True, kw_only=True):
    touchpoint_id: str
    status: ConnectionStatus
    reason: str = ""
    # when the status last changed
    since: float
    # when it last became connected (an OAuth touchpoint's re-check reminder counts
    # from it), None if never
    connected_at: float | None = None
    # when admins were last reminded to re-check it
    reminded_at: float | None = None


class MessageRef(msgspec.Struct, frozen=True, kw_only=True):
    """A provider's reference to a message on a touchpoint (email: a Message-ID)."""

    touchpoint_id: str
    ref: str
    conversation_id: str
    seq: int
    created_at: float


Content = dict[str, Any]
