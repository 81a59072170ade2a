"""The router: pure, synchronous, no I/O.

The gateway feeds it events with the current time and carries out the decisions it
returns; see docs/routing.md. Everything public is re-exported here."""

from routing.decisions import (
    Assigned,
    AutoReply,
    BotReleased,
    Closed,
    Decision,
    Ended,
    InboxVisibility,
    Offered,
    OfferWithdrawn,
    Queued,
    Requeued,
    Sound,
)
from routing.errors import RoutingError
from routing.events import (
    Accept,
    AgentRemoved,
    AgentStatusChanged,
    AgentUpserted,
    Assign,
    BotHandover,
    ChannelWeightChanged,
    ContactClosed,
    ConversationArrived,
    ConversationRestored,
    End,
    Event,
    Reject,
    SendToInbox,
    Tick,
    TouchpointRemoved,
    TouchpointUpserted,
    Transfer,
    WrapUp,
)
from routing.flow import Calendar, Condition, FlowConfig, Outcome, Rule
from routing.model import CAPACITY, VOICE_WEIGHT, HandoverReason, RouterConfig
from routing.router import Router
from routing.snapshot import digest, export_snapshot, restore_snapshot
from routing.state import AgentRecord, RouterState
from routing.views import AgentView, ConversationView

__all__ = [
    "CAPACITY",
    "VOICE_WEIGHT",
    "Accept",
    "AgentRecord",
    "AgentRemoved",
    "AgentStatusChanged",
    "AgentUpserted",
    "AgentView",
    "Assign",
    "Assigned",
    "AutoReply",
    "BotHandover",
    "BotReleased",
    "Calendar",
    "ChannelWeightChanged",
    "Closed",
    "Condition",
    "ContactClosed",
    "ConversationArrived",
    "ConversationRestored",
    "ConversationView",
    "Decision",
    "End",
    "Ended",
    "Event",
    "FlowConfig",
    "HandoverReason",
    "InboxVisibility",
    "OfferWithdrawn",
    "Offered",
    "Outcome",
    "Queued",
    "Reject",
    "Requeued",
    "Router",
    "RouterConfig",
    "RouterState",
    "RoutingError",
    "Rule",
    "SendToInbox",
    "Sound",
    "Tick",
    "TouchpointRemoved",
    "TouchpointUpserted",
    "Transfer",
    "WrapUp",
    "digest",
    "export_snapshot",
    "restore_snapshot",
]
