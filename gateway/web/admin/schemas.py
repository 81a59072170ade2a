"""The admin API's request and response bodies, as msgspec Structs.

The same Structs validate requests (``msgspec.convert``) and generate the OpenAPI
schemas (gateway/web/openapi.py), so the document and the behaviour cannot disagree.
Validation failures become ``422`` with field-level messages (:func:`field_errors`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

import routing as r
from gateway.errors import InvalidInput
from gateway.model.channels import CONFIGURABLE_WEIGHTS, ChannelName
from gateway.model.records import (
    DEFAULT_SOUNDS,
    SOUND_EVENTS,
    Contact,
    Conversation,
    FormField,
    Message,
    Rating,
    SoundName,
)
from gateway.web.admin.paging import Cursor
from routing.model import Role, RoutingMode

# -- building blocks ------------------------------------------------------------------

Id = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$",
        description="letters, digits, '_' and '-'; 1..64 characters",
    ),
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Weight = Annotated[int, msgspec.Meta(ge=1, le=r.CAPACITY, description="capacity points")]
# the console's sound to play (gateway/model/records.py); empty for silence
SoundOrSilence = SoundName | Literal[""]
Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Password = Annotated[
    str, msgspec.Meta(min_length=8, max_length=1024, description="write-only; hashed")
]


_AT = re.compile(r"^(?P<msg>.*?) - at `(?:key` in `)?(?P<path>\$[^`]*)`$", re.S)
_NAMED = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]+)`")


def field_errors(exc: msgspec.ValidationError) -> InvalidInput:
    """msgspec's one message (``Expected `int` >= 1 - at `$.a.b[0]` ``) as a field error."""
    text = str(exc)
    m = _AT.match(text)
    message, path = (m["msg"], m["path"]) if m else (text, "$")
    field = path.removeprefix("$").removeprefix(".").replace("[...]", "")
    named = _NAMED.search(message)
    if named:
        field = f"{field}.{named['name']}" if field else named["name"]
        message = "unknown field" if "unknown" in message else "this field is required"
    return InvalidInput([(field, message)])


# -- touchpoints ------------------------------------------------------------------------


class TouchpointIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A touchpoint as written by an admin (create, PUT; PATCH merges into it).

    ``active`` is not here: new touchpoints are inactive and only the activate /
    deactivate actions change it. ``id`` is accepted on create only."""

    name: Name
    channel: ChannelName = "chat"
    direction: Literal["inbound", "outbound", "both"] = "inbound"
    routing_mode: Literal["simplified", "dedicated", "flow"] = "flow"
    domain: Annotated[
        str,
        msgspec.Meta(
            max_length=300,
            description="chat only, required there: [scheme://][*.]host[:port], no path",
        ),
    ] = ""
    queue_ids: list[Id] = []
    dedicated_agent_id: Id | None = None
    flow: r.FlowConfig | None = None
    widget: dict[str, Any] = {}
    form: list[FormField] = []
    identity_secret: (
        Annotated[
            str,
            msgspec.Meta(
                max_length=512,
                description="write-only; omit or null to keep, empty string to clear",
            ),
        ]
        | None
    ) = None
    require_identity: bool = False
    preview_roles: list[Role] = msgspec.field(default_factory=lambda: ["supervisor", "admin"])
    # the channel's own settings, checked by its adapter
    settings: dict[str, Any] = {}
    display_name: Annotated[
        str,
        msgspec.Meta(
            max_length=100,
            description="the name contacts see on automatic messages (empty: none; the "
            "touchpoint's name is internal)",
        ),
    ] = ""


class TouchpointCreate(TouchpointIn, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None


class TouchpointOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    channel: ChannelName
    active: bool
    direction: str
    routing_mode: str
    domain: str
    queue_ids: list[str]
    dedicated_agent_id: str | None
    flow: r.FlowConfig | None
    widget: dict[str, Any]
    form: list[FormField]
    identity_secret_set: bool
    require_identity: bool
    preview_roles: list[Role]
    # the channel's settings without its secrets (tokens, app secrets), which are never
    settings: dict[str, Any]
    created_at: float
    display_name: str


class ChannelOut(msgspec.Struct, kw_only=True):
    """A channel this gateway carries (it has the adapter): a new touchpoint's possible
    ``channel``, which of its ``settings`` are secrets (written, never read back) and
    the routing modes its touchpoints may have (gateway/model/channels.py)."""

    channel: ChannelName
    label: str
    secret_settings: list[str]
    routing_modes: list[RoutingMode]


class DuplicateIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None
    name: Name | None = None


# -- queues, agents, disposition sets ----------------------------------------------------


class QueueIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name


class QueueCreate(QueueIn, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None


class QueueOut(msgspec.Struct, kw_only=True):
    id: str
    name: str


class AgentIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Email
    name: Name
    role: Role = "agent"
    queue_ids: list[Id] = []
    password: Password | None = None
    active: bool = True


class AgentCreate(AgentIn, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None


class AgentOut(msgspec.Struct, kw_only=True):
    id: str
    email: str
    name: str
    role: Role
    queue_ids: list[str]
    active: bool
    has_password: bool


class DispositionSetIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    dispositions: list[Annotated[str, msgspec.Meta(min_length=1, max_length=100)]] = []


class DispositionSetCreate(DispositionSetIn, kw_only=True, forbid_unknown_fields=True):
    id: Id | None = None


class DispositionSetOut(msgspec.Struct, kw_only=True):
    id: str
    name: str
    dispositions: list[str]


# -- global settings ---------------------------------------------------------------------


if TYPE_CHECKING:

    class ChannelWeights(msgspec.Struct, frozen=True):
        """Capacity points per channel whose weight is configurable."""

    class Sounds(msgspec.Struct, frozen=True):
        """The sound the console plays per event."""

else:
    # Capacity points per channel whose weight is configurable (gateway/model/channels.py);
    # voice is fixed at 51 and not settable.
    ChannelWeights = msgspec.defstruct(
        "ChannelWeights",
        [(name, Weight, weight) for name, weight in CONFIGURABLE_WEIGHTS.items()],
        kw_only=True,
        frozen=True,
        forbid_unknown_fields=True,
    )
    # The sound the console plays per event; empty for silence.
    Sounds = msgspec.defstruct(
        "Sounds",
        [(event, SoundOrSilence, DEFAULT_SOUNDS[event]) for event in SOUND_EVENTS],
        kw_only=True,
        frozen=True,
        forbid_unknown_fields=True,
    )


IdleSeconds = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=86_400,
        description="seconds without a message after which a live chat closes; 0: never",
    ),
]


class SettingsIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    channel_weights: ChannelWeights = ChannelWeights()
    sounds: Sounds = Sounds()
    priority_display: Literal["icons", "numbers"] = "icons"
    disposition_set_id: Id | None = None
    idle_close_after: IdleSeconds = 900


class SettingsOut(msgspec.Struct, kw_only=True):
    channel_weights: ChannelWeights
    voice_weight: int
    sounds: Sounds
    priority_display: Literal["icons", "numbers"]
    disposition_set_id: str | None
    idle_close_after: int


# -- history -------------------------------------------------------------------------------


class HistoryQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    before_seq: Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50


class HistoryPage(msgspec.Struct, kw_only=True):
    conversation_id: str
    items: list[Message]
    has_more: bool
    # pass as before_seq for the previous (older) page; null when there is none
    next_before_seq: int | None


class ConversationList(msgspec.Struct, kw_only=True):
    contact_id: str
    items: list[Conversation]


class ConversationExport(Conversation, kw_only=True, frozen=True):
    messages: list[Message] = []


class ContactExport(msgspec.Struct, kw_only=True):
    contact: Contact
    conversations: list[ConversationExport]


class ContactDeleted(msgspec.Struct, kw_only=True):
    contact_id: str
    deleted_conversations: int


class DeleteContactQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    force: bool = False


class RatingsQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    touchpoint_id: Id | None = None
    since: Annotated[float, msgspec.Meta(ge=0, description="UNIX seconds")] = 0.0
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 100
    # the previous page's next_cursor: the ratings after it
    cursor: Cursor | None = None


class RatingsPage(msgspec.Struct, kw_only=True, omit_defaults=True):
    items: list[Rating]
    # over the items: how many, and their mean score (null when there are none)
    count: int
    average: float | None
    # pass as cursor for the next (older) page; absent when this page is the last
    next_cursor: str | None = None


# -- the existing agent and widget endpoints (described, not changed) ------------------------


class LoginRequest(msgspec.Struct, kw_only=True):
    email: str
    password: str


class Me(msgspec.Struct, kw_only=True):
    id: str
    email: str
    name: str
    role: Role
    queue_ids: list[str]


class LoginResponse(msgspec.Struct, kw_only=True):
    token: str
    expires_at: float
    agent: Me


# -- admin notices ---------------------------------------------------------------------


class NoticesQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=200)] = 50
    # only notices created before this time (UNIX seconds): the next page; NaN, which
    # the stores compare differently (SQLite: nothing is before it; PostgreSQL: all), and
    # negative times are refused. Kept for the clients that page by it; it loses notices
    # of the same instant at a page's end: page by ``cursor`` instead
    before: Annotated[float, msgspec.Meta(ge=0)] | None = None
    cursor: Cursor | None = None


class NoticeOut(msgspec.Struct, kw_only=True):
    id: str
    kind: str
    message: str
    touchpoint_id: str
    conversation_id: str
    created_at: float
    # pass as cursor for the notices after this one
    cursor: str
