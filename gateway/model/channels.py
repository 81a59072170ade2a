"""The channels, defined once, as data.

Every other place that needs to know the channels reads this table: the router's
configuration (weights, routing modes allowed), the admin API's validation, the agent
console (sent in the snapshot) and docs/channels.md (a test keeps the doc's table equal
to this one). A channel here is a kind of conversation; whether this build carries its
traffic is a matter of which adapters the composition root registers (channels/).

``live`` says whether the contact is present in a session while the conversation runs
(chat, voice): typing indicators, idle timeouts and "agent left" notices make sense
there. The other channels are asynchronous messaging: the contact may answer hours
later, and what the agent writes is delivered as a message, not shown in a session.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

import msgspec

from routing.model import RoutingMode

ChannelName = Literal["chat", "sms", "whatsapp", "messenger", "email", "api", "voice"]
# What identifies a contact on a channel (the conversation's ``address``).
AddressKind = Literal[
    "visitor_id",  # chat: the widget's visitor id, bound to a signed session token
    "e164",  # SMS: the phone number in E.164 form (+15551234567)
    "whatsapp_id",  # WhatsApp: the wa_id (the number without "+")
    "page_scoped_id",  # Messenger: the page-scoped user id (PSID)
    "email",  # email: the address, lower-cased
    "external_id",  # the integration API: the third party's own id for the contact
    "phone",  # voice
]


class ChannelSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: ChannelName
    label: str
    default_weight: int
    # the contact is present in a live session (see the module docstring)
    live: bool
    routing_modes: tuple[RoutingMode, ...]
    address: AddressKind
    # the capacity weight is an admin setting (voice is fixed at 51)
    weight_configurable: bool = True
    attachments: bool = False
    # an agent may start a conversation (outbound), not only answer one
    outbound_start: bool = False
    # seconds after the contact's last message during which the agent may write (a
    # provider's customer-service window); None: no window
    session_window: float | None = None
    # what agents and the system write is delivered by the channel's adapter through a
    # provider, tracked on the message (pending, sent, delivered, read or failed) and
    # retried; False for chat, whose contact reads in a live socket and resumes by seq
    tracked_delivery: bool = True
    # conversation events (an agent joined or left, the end) are delivered too, as
    # messages of kind "event" (the integration API's front end shows them)
    delivers_events: bool = False


ALL_MODES: Final[tuple[RoutingMode, ...]] = ("simplified", "dedicated", "flow")
DIGITAL_MODES: Final[tuple[RoutingMode, ...]] = ("simplified", "flow")

CHANNELS: Final[dict[str, ChannelSpec]] = {
    spec.name: spec
    for spec in (
        ChannelSpec(
            name="chat",
            label="Chat",
            default_weight=25,
            live=True,
            routing_modes=("flow",),
            address="visitor_id",
            attachments=True,
            tracked_delivery=False,
        ),
        ChannelSpec(
            name="sms",
            label="SMS",
            default_weight=10,
            live=False,
            routing_modes=ALL_MODES,
            address="e164",
            attachments=True,
            outbound_start=True,
        ),
        ChannelSpec(
            name="whatsapp",
            label="WhatsApp",
            default_weight=10,
            live=False,
            routing_modes=DIGITAL_MODES,
            address="whatsapp_id",
            attachments=True,
            session_window=24 * 3600.0,
        ),
        ChannelSpec(
            name="messenger",
            label="Messenger",
            default_weight=10,
            live=False,
            routing_modes=DIGITAL_MODES,
            address="page_scoped_id",
            attachments=True,
            session_window=7 * 24 * 3600.0,
        ),
        ChannelSpec(
            name="email",
            label="Email",
            default_weight=5,
            live=False,
            routing_modes=DIGITAL_MODES,
            address="email",
            attachments=True,
            outbound_start=True,
        ),
        ChannelSpec(
            name="api",
            label="API",
            default_weight=10,
            live=False,
            routing_modes=DIGITAL_MODES,
            address="external_id",
            attachments=True,
            outbound_start=True,
            delivers_events=True,
        ),
        ChannelSpec(
            name="voice",
            label="Voice",
            default_weight=51,
            live=True,
            routing_modes=DIGITAL_MODES,
            address="phone",
            weight_configurable=False,
            tracked_delivery=False,
        ),
    )
}

# The literal and the table name the same channels (checked at import: a channel added
# to one and not the other fails loudly at once).
if set(CHANNELS) != set(get_args(ChannelName)):  # pragma: no cover - a programming error
    raise RuntimeError("gateway.model.channels: ChannelName and CHANNELS disagree")

DEFAULT_WEIGHTS: Final[dict[str, int]] = {c.name: c.default_weight for c in CHANNELS.values()}
# The weights an admin may change (Admin > Channels > Global settings).
CONFIGURABLE_WEIGHTS: Final[dict[str, int]] = {
    c.name: c.default_weight for c in CHANNELS.values() if c.weight_configurable
}
ROUTING_MODES: Final[dict[str, list[RoutingMode]]] = {
    c.name: list(c.routing_modes) for c in CHANNELS.values()
}


def channel(name: str) -> ChannelSpec:
    """The spec of a channel; KeyError for an unknown name (validated before this)."""
    return CHANNELS[name]


def window_closes_at(spec: ChannelSpec, last_contact_at: float | None) -> float | None:
    """When the agent's session window on a conversation closes: the contact's last
    message plus the channel's window (WhatsApp 24 h, Messenger 7 days). None for a
    channel without a window; 0.0 (closed) when the contact never wrote."""
    if spec.session_window is None:
        return None
    return 0.0 if last_contact_at is None else last_contact_at + spec.session_window
