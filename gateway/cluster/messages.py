"""What nodes say to each other about routing, on the bus (msgpack).

Followers forward router events to the leader (``Forward`` → ``Queued`` at once, then
``Reply``), ask it for a
snapshot (``SnapshotRequest`` → ``SnapshotReply``), and follow its log (``LogEntry``,
``Reset``); an admin change on any node tells every node (``ConfigChanged``).
docs/scaling.md describes the protocol.
"""

from __future__ import annotations

import msgspec

import routing as r


class Forward(msgspec.Struct, tag="forward"):
    req_id: str
    reply_to: str
    event: r.Event


class Queued(msgspec.Struct, tag="queued"):
    """The leader has a forwarded event and will answer it in its turn (a burst queues
    there): the follower waits on for as long as the leader is heard from."""

    req_id: str


class SnapshotRequest(msgspec.Struct, tag="snapshot_request"):
    req_id: str
    reply_to: str


class Reply(msgspec.Struct, tag="reply"):
    req_id: str
    ok: bool
    code: str = ""
    message: str = ""
    retryable: bool = False


class SnapshotReply(msgspec.Struct, tag="snapshot"):
    req_id: str
    fence: int
    seq: int
    data: bytes


class LogEntry(msgspec.Struct, tag="log"):
    fence: int
    seq: int
    now: float
    event: r.Event


class Reset(msgspec.Struct, tag="reset"):
    """The leader's state moved in a way the log does not carry: take a snapshot."""

    fence: int
    seq: int


class ConfigChanged(msgspec.Struct, tag="config"):
    """An admin changed configuration on some node: every node reloads it."""

    origin: str


Message = (
    Forward | Queued | SnapshotRequest | Reply | SnapshotReply | LogEntry | Reset | ConfigChanged
)

_decoder = msgspec.msgpack.Decoder(Message)
_encoder = msgspec.msgpack.Encoder()


def encode(msg: Message) -> bytes:
    return _encoder.encode(msg)


def decode(data: bytes) -> Message:
    """Raise msgspec.DecodeError for bytes that are no cluster message."""
    msg: Message = _decoder.decode(data)
    return msg
