"""The router's vocabulary: statuses, roles, modes, capacity, channel weights, and the
conversation state machine."""

from __future__ import annotations

from typing import Final, Literal, get_args

import msgspec

from routing.errors import InvalidWeight, RoutingError

Status = Literal["available", "away", "offline"]
Role = Literal["agent", "supervisor", "admin"]
RoutingMode = Literal["simplified", "dedicated", "flow"]
ROUTING_MODES: Final[tuple[RoutingMode, ...]] = get_args(RoutingMode)
# manual: an offer rings an agent; auto: assigned directly; hold: it waits in the Inbox
# of its queues, ringing no one, until an agent takes it (a message left for later, or
# a flow rule for closed hours).
Acceptance = Literal["manual", "auto", "hold"]
# "bot": a flow handed the new conversation to a bot first (no agent sees it yet)
ConversationState = Literal["bot", "waiting", "offered", "assigned", "wrapup"]
HandoverReason = Literal["escalated", "contact_asked", "timeout", "transferred"]

CAPACITY: Final = 100
VOICE: Final = "voice"
VOICE_WEIGHT: Final = 51
SUPERVISING_ROLES: Final = frozenset({"supervisor", "admin"})

# Closed conversations leave the router (the store keeps history), so "closed" is the
# end of the machine rather than a state it holds. An unassigned conversation (with a
# bot, waiting or offered) closes at once when its contact ends it (ContactEnded: nobody
# has notes to write).
TRANSITIONS: Final[dict[ConversationState, frozenset[str]]] = {
    "bot": frozenset({"waiting", "assigned", "closed"}),
    "waiting": frozenset({"offered", "assigned", "closed"}),
    "offered": frozenset({"waiting", "assigned", "closed"}),
    "assigned": frozenset({"waiting", "assigned", "wrapup"}),  # assigned→assigned: transfer
    "wrapup": frozenset({"closed"}),
}


class IllegalTransition(RoutingError):
    """A bug, not bad input: handlers validate first, so this should never surface."""

    code = "illegal_transition"


def check_transition(old: ConversationState, new: str) -> None:
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(f"{old} → {new}")


DEFAULT_WEIGHTS: Final = {
    "chat": 25,
    "sms": 10,
    "whatsapp": 10,
    "messenger": 10,
    "email": 5,
    "api": 10,
    VOICE: VOICE_WEIGHT,
}


class RouterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Tunables. Channels missing from ``channel_weights`` cost ``default_weight``.

    ``channel_modes``: the routing modes a touchpoint of each channel may use, from the
    gateway's channel definitions (the router knows no channel rules of its own); a
    channel not listed may use every mode."""

    offer_timeout: float = 30.0
    reoffer_cooldown: float = 120.0
    channel_weights: dict[str, int] = msgspec.field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    default_weight: int = 10
    channel_modes: dict[str, list[RoutingMode]] = msgspec.field(default_factory=dict)

    def validated(self) -> RouterConfig:
        if self.offer_timeout <= 0 or self.reoffer_cooldown < 0:
            raise RoutingError("offer_timeout must be > 0 and reoffer_cooldown >= 0")
        check_weight("(default)", self.default_weight)
        for channel, weight in self.channel_weights.items():
            check_weight(channel, weight)
        modes = {channel: check_modes(channel, m) for channel, m in self.channel_modes.items()}
        # Floats always, channels sorted and modes in one order without repeats, so equal
        # configs encode to equal snapshot bytes.
        return msgspec.structs.replace(
            self,
            offer_timeout=float(self.offer_timeout),
            reoffer_cooldown=float(self.reoffer_cooldown),
            channel_modes=dict(sorted(modes.items())),
        )


def check_modes(channel: str, modes: list[RoutingMode]) -> list[RoutingMode]:
    """The modes a channel allows, in ``ROUTING_MODES`` order; refuses unknown ones."""
    known = ", ".join(ROUTING_MODES)
    if not isinstance(channel, str) or not isinstance(modes, list) or not modes:
        raise RoutingError(
            f"channel_modes[{channel!r}] must be a non-empty list of routing modes ({known})"
        )
    if unknown := [m for m in modes if m not in ROUTING_MODES]:
        raise RoutingError(
            f"channel_modes[{channel!r}]: unknown routing mode(s) "
            f"{', '.join(map(repr, unknown))}; known: {known}"
        )
    return [m for m in ROUTING_MODES if m in modes]


def describe_modes(modes: list[RoutingMode]) -> str:
    """For messages: "the flow routing mode", "the simplified and flow routing modes"."""
    if len(modes) == 1:
        return f"the {modes[0]} routing mode"
    return f"the {', '.join(modes[:-1])} and {modes[-1]} routing modes"


def check_weight(channel: str, weight: int) -> None:
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= CAPACITY:
        raise InvalidWeight(f"weight of {channel!r} must be an integer in 1..{CAPACITY}")
    if channel == VOICE and weight != VOICE_WEIGHT:
        raise InvalidWeight(f"voice is fixed at {VOICE_WEIGHT} points")
