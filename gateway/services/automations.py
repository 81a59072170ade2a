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
from gateway.model.integrations import Announcement, bot_target
from gateway.model.records import Conversation
from gateway.services.directory import Directory


class Announcer:
    def __init__(self, directory: Directory, clock: Callable[[], float]) -> None:
        self._dir = directory
        self._clock = clock

    def subscribers(
        self, event_type: str, channel: str, touchpoint_id: str, queue_ids: Iterable[str]
    ) -> tuple[str, ...]:
        """The ids of the webhooks that want this event of such a conversation."""
        queues = set(queue_ids)
        return tuple(
            w.id
            for w in self._dir.webhooks.values()
            if w.active
            and event_type in w.events
            and (not w.channels or channel in w.channels)
            and (not w.touchpoint_ids or touchpoint_id in w.touchpoint_ids)
            and (not w.queue_ids or not queues.isdisjoint(w.queue_ids))
        )

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
        targets = self.subscribers(event_type, conv.channel, conv.touchpoint_id, conv.queue_ids)
        if bot:
            targets += (bot_target(bot),)
        if not targets:
            return []
        when = self._clock() if at is None else at
        return [Announcement(new_id("evt"), event_type, targets, when, data)]

    def message(self, conv: Conversation, *, at: float, to_bot: bool) -> list[Announcement]:
        """``message.created`` for a text message appended to ``conv``: to the webhooks
        that opted in, and to the bot holding the conversation when ``to_bot`` (the
        contact's messages while a bot holds it). None while the conversation is ``new``:
        its messages so far are announced when it is routed, after its start
        (gateway/services/effects.py, ``_persist_queued``)."""
        if conv.state == "new":
            return []
        bot = conv.bot_id if to_bot and conv.state == "bot" and conv.bot_id else ""
        if not bot and not self.wants("message.created"):
            return []
        return self.conversation("message.created", conv, at=at, bot=bot)
