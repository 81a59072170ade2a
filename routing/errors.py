"""The router's exception tree.

Every refusal is a :class:`RoutingError` with a stable snake_case ``code``; the router
validates an event completely before it changes anything, so after any of these the state
is exactly what it was::

    RoutingError
    ├── UnknownAgent           unknown_agent
    ├── UnknownConversation    unknown_conversation
    ├── UnknownTouchpoint      unknown_touchpoint
    ├── ConversationExists     conversation_exists   (an arrival reused an id)
    ├── InvalidWeight          invalid_weight        (outside 1..100, or voice not 51)
    ├── InvalidTouchpoint      invalid_touchpoint    (mode not allowed for the channel, ...)
    ├── InvalidFlow            invalid_flow          (bad calendar, time zone, hours)
    ├── InvalidTransfer        invalid_transfer      (no target, two, to the owner or only queue)
    ├── InvalidRestore         invalid_restore       (a restored row that cannot be)
    ├── NotVisible             not_visible           (not in the conversation's queues)
    ├── NotOwner               not_owner             (acting on someone else's conversation)
    ├── AgentUnavailable       agent_unavailable     (offline agents take no work)
    ├── OverCapacity           over_capacity
    ├── AlreadyAssigned        already_assigned      (someone else won the race)
    ├── NotOffered             not_offered
    ├── OfferExpired           offer_expired         (expired, rejected or withdrawn)
    ├── NotAssigned            not_assigned          (end of a conversation nobody holds)
    ├── NotInWrapUp            not_in_wrapup
    ├── WithBot                with_bot              (a bot holds it: hand it over first)
    ├── NotWithBot             not_with_bot          (a handover of what no bot holds)
    └── AlreadyEnded           already_ended         (closing what has ended already)
"""

from __future__ import annotations


class RoutingError(Exception):
    """Root of every refusal of the router."""

    code = "routing_error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.code)

    @property
    def message(self) -> str:
        return str(self.args[0])


class UnknownAgent(RoutingError):
    code = "unknown_agent"


class UnknownConversation(RoutingError):
    code = "unknown_conversation"


class UnknownTouchpoint(RoutingError):
    code = "unknown_touchpoint"


class ConversationExists(RoutingError):
    code = "conversation_exists"


class InvalidWeight(RoutingError):
    code = "invalid_weight"


class InvalidTouchpoint(RoutingError):
    code = "invalid_touchpoint"


class InvalidFlow(RoutingError):
    code = "invalid_flow"


class InvalidTransfer(RoutingError):
    code = "invalid_transfer"


class InvalidRestore(RoutingError):
    code = "invalid_restore"


class NotVisible(RoutingError):
    code = "not_visible"


class NotOwner(RoutingError):
    code = "not_owner"


class AgentUnavailable(RoutingError):
    code = "agent_unavailable"


class OverCapacity(RoutingError):
    code = "over_capacity"


class AlreadyAssigned(RoutingError):
    code = "already_assigned"


class NotOffered(RoutingError):
    code = "not_offered"


class OfferExpired(RoutingError):
    code = "offer_expired"


class NotAssigned(RoutingError):
    code = "not_assigned"


class NotInWrapUp(RoutingError):
    code = "not_in_wrapup"


class WithBot(RoutingError):
    code = "with_bot"


class NotWithBot(RoutingError):
    code = "not_with_bot"


class AlreadyEnded(RoutingError):
    code = "already_ended"
