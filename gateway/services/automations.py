"""Automations: which webhooks (and which bot) an event of a conversation is announced to.

The services ask for announcements before they change a conversation and hand them to
the store with the change (gateway/ports/store/base.py ``announce``), so the outbox row
and the change commit together; gateway/services/outbox.py delivers them. A webhook
receives an event when it is active, subscribes to its type, and each of its filters
that is set (channels, touchpoints, queues) matches the conversation as the change
leaves it. A bot holding a conversation gets what it needs to hold it: its start, the
contact's messages, its end and the handover that ends its turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gateway.auth import new_id
from gateway.model.integrations import Announcement, Webhook, bot_target
from gateway.model.records import Conversation, Message
from gateway.services.directory import Directory


def _subscribed(hooks: Iterable[Webhook], conv: Conversation) -> tuple[str, ...]:
    """The ids of these webhooks whose filters match the conversation."""
    queues = set(conv.queue_ids)
    return tuple(
        w.id
        for w in hooks
        if (not w.channels or conv.channel in w.channels)
        and (not w.touchpoint_ids or conv.touchpoint_id in w.touchpoint_ids)
        and (not w.queue_ids or not queues.isdisjoint(w.queue_ids))
    )


class MessageEvents:
    """``message.created`` of the messages a store operation writes (an append) or routes
    (the change that takes a conversation out of ``new``): called by the store in that
    transaction, on the conversation as it leaves it (gateway/ports/store/base.py,
    ``MessageAnnouncer``), so whether a message is announced at its append or at its
    conversation's routing is decided under the conversation's row lock. It runs on
    SQLite's writer thread: it reads only the webhooks taken when it was made. What it
    announced is kept, to wake the outbox once the operation has committed."""

    def __init__(self, hooks: tuple[Webhook, ...], *, to_bot: bool, contact_only: bool) -> None:
        self._hooks = hooks
        self._to_bot = to_bot
        self._contact_only = contact_only
        self.announced: list[Announcement] = []

    def __call__(self, conv: Conversation, message: Message) -> list[Announcement]:
        if self._contact_only and (message.sender != "contact" or message.kind == "event"):
            return []
        targets = _subscribed(self._hooks, conv)
        if self._to_bot and conv.state == "bot" and conv.bot_id:
            targets += (bot_target(conv.bot_id),)
        if not targets:
            return []
        made = [Announcement(new_id("evt"), "message.created", targets, message.created_at)]
        self.announced += made
        return made


class Announcer:
    def __init__(self, directory: Directory, clock: Callable[[], float]) -> None:
        self._dir = directory
        self._clock = clock

    def subscribers(self, event_type: str, conv: Conversation) -> tuple[str, ...]:
        """The ids of the webhooks that want this event of such a conversation."""
        return _subscribed(self._hooks(event_type), conv)

    def _hooks(self, event_type: str) -> tuple[Webhook, ...]:
        webhooks = self._dir.webhooks
        if not webhooks:  # the common case, asked once per message: no generator
            return ()
        return tuple(w for w in webhooks.values() if w.active and event_type in w.events)

    def wants(self, event_type: str) -> bool:
        """Whether any active webhook subscribes to this type at all (a cheap check
        before reading what the filters need)."""
        return any(w.active and event_type in w.events for w in self._dir.webhooks.values())

    def conversation(
        self,
        event_type: str,
        conv: Conversation,
        *,
        at: float | None = None,
        bot: str = "",
        **data: Any,
    ) -> list[Announcement]:
        """The announcement of a change of ``conv`` (as the change leaves it) to its
        subscribers, and to ``bot`` when given; none when nobody wants it."""
        targets = self.subscribers(event_type, conv)
        if bot:
            targets += (bot_target(bot),)
        if not targets:
            return []
        when = self._clock() if at is None else at
        return [Announcement(new_id("evt"), event_type, targets, when, data)]

    def messages(self, conv: Conversation, *, to_bot: bool) -> MessageEvents | None:
        """``message.created`` for a message appended to ``conv``, for the store to
        decide in the append's transaction: to the webhooks that opted in, and to the bot
        holding the conversation when ``to_bot`` (the contact's messages while a bot
        holds it). Nothing while the conversation is still ``new`` (the store's rule):
        its messages are announced when it is routed, after its start
        (``written``). None when no one can want it (no webhook opted in, and the
        conversation neither is nor can become a bot's: only ``new`` ones are routed to
        a bot)."""
        hooks = self._hooks("message.created")
        if not hooks and not (to_bot and conv.state in ("new", "bot")):
            return None
        return MessageEvents(hooks, to_bot=to_bot, contact_only=False)

    def written(self, bot: str) -> MessageEvents | None:
        """``message.created`` for what the contact wrote while the conversation was
        ``new``, for the store to write in the transaction that routes it, after its
        ``conversation.started`` (gateway/services/effects.py, ``_persist_queued``): to
        the webhooks that opted in and to ``bot``, the bot it is routed to, if any.
        None when no one can want them (no webhook opted in, and no bot): the routing
        is then one statement, with no row lock taken first and no read of the messages
        (the common routing, on the router leader's one-at-a-time path)."""
        hooks = self._hooks("message.created")
        if not hooks and not bot:
            return None
        return MessageEvents(hooks, to_bot=True, contact_only=True)
