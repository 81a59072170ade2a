"""Snapshot and restore: the router's whole state as canonical msgpack bytes.

Canonical (the records of ``Router.export_state`` are sorted and leave out ephemeral
sequence numbers) so that equal states give equal bytes, which makes ``digest`` a test of
replay determinism. Built only on the router's public export API: this module imports
the router, never the reverse."""

from __future__ import annotations

import hashlib

import msgspec

from routing.events import ConversationRestored, TouchpointUpserted
from routing.model import RouterConfig, RoutingMode
from routing.router import Router
from routing.state import AgentRecord, RouterState

VERSION = 1


class ConfigRecord(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """``RouterConfig`` as stored. ``channel_modes`` is written only when set, so the
    snapshot of a router without it has exactly the bytes it had before the field
    existed (and older nodes can still read it); every other field is always written.
    Its fields are RouterConfig's: one missing here fails every snapshot at once."""

    offer_timeout: float
    reoffer_cooldown: float
    channel_weights: dict[str, int]
    default_weight: int
    channel_modes: dict[str, list[RoutingMode]] = {}


class Snapshot(msgspec.Struct, frozen=True):
    version: int
    config: ConfigRecord
    agents: list[AgentRecord]
    touchpoints: list[TouchpointUpserted]
    conversations: list[ConversationRestored]  # in arrival order


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Snapshot)


def export_snapshot(router: Router) -> bytes:
    """The router's whole state; equal states give equal bytes."""
    s = router.export_state()
    config = ConfigRecord(**msgspec.structs.asdict(s.config))
    return _encoder.encode(Snapshot(VERSION, config, s.agents, s.touchpoints, s.conversations))


def restore_snapshot(data: bytes) -> Router:
    """A router equal to the one ``export_snapshot`` was given (no decision is made)."""
    snap = _decoder.decode(data)
    if snap.version != VERSION:
        raise ValueError(f"snapshot version {snap.version}, expected {VERSION}")
    config = RouterConfig(**msgspec.structs.asdict(snap.config))
    return Router.from_state(RouterState(config, snap.agents, snap.touchpoints, snap.conversations))


def digest(router: Router) -> str:
    """Equal digests ⇔ equal state (the snapshot is canonical)."""
    return hashlib.sha256(export_snapshot(router)).hexdigest()
