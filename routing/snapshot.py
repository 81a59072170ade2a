"""Snapshot and restore: the router's whole state as canonical msgpack bytes.

Canonical (the records of ``Router.export_state`` are sorted and leave out ephemeral
sequence numbers) so that equal states give equal bytes, which makes ``digest`` a test of
replay determinism. Built only on the router's public export API: this module imports
the router, never the reverse."""

from __future__ import annotations

import hashlib

import msgspec

from routing.events import ConversationRestored, TouchpointUpserted
from routing.model import RouterConfig
from routing.router import Router
from routing.state import AgentRecord, RouterState

VERSION = 1


class Snapshot(msgspec.Struct, frozen=True):
    version: int
    config: RouterConfig
    agents: list[AgentRecord]
    touchpoints: list[TouchpointUpserted]
    conversations: list[ConversationRestored]  # in arrival order


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Snapshot)


def export_snapshot(router: Router) -> bytes:
    """The router's whole state; equal states give equal bytes."""
    s = router.export_state()
    return _encoder.encode(Snapshot(VERSION, s.config, s.agents, s.touchpoints, s.conversations))


def restore_snapshot(data: bytes) -> Router:
    """A router equal to the one ``export_snapshot`` was given (no decision is made)."""
    snap = _decoder.decode(data)
    if snap.version != VERSION:
        raise ValueError(f"snapshot version {snap.version}, expected {VERSION}")
    return Router.from_state(
        RouterState(snap.config, snap.agents, snap.touchpoints, snap.conversations)
    )


def digest(router: Router) -> str:
    """Equal digests ⇔ equal state (the snapshot is canonical)."""
    return hashlib.sha256(export_snapshot(router)).hexdigest()
