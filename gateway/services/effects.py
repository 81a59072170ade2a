"""Carrying out the router's decisions: a table of handlers, each a persist step and a
notify step.

Every decision of one event is persisted first, in order (conversation rows, the
events a contact sees as messages); only then is anyone told, in the same order,
followed by the rows that changed in agents' lists, the offers, and the sounds. A
failure part-way leaves people untold: the router shell rebuilds before the next event
(or within a second), then sends the agents those decisions concerned their rows as the
store has them (``involved``, ``refresh_rows``; gateway/services/router_shell.py).

A persist step that changes a conversation hands the store the events automations and
bots are to be told of (gateway/services/automations.py), written in the same
transaction as the change.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec

import routing as r
from gateway import protocol as p
from gateway.errors import GatewayError, NotFound
from gateway.model.channels import CHANNELS
from gateway.model.integrations import Announcement
from gateway.model.records import Conversation, GlobalSettings, Message
from gateway.ports.store.base import Store
from gateway.services.access import AccessPolicy
from gateway.services.automations import Announcer, MessageEvents
from gateway.services.deliveries import Deliveries
from gateway.services.directory import Directory
from gateway.services.live import LiveView
from gateway.services.notify import BotNote, MessageNote, Notifier
from gateway.services.outbox import Outbox
from gateway.services.views import Summaries, event_body, frame_for
from routing.decisions import EndedBy

log = logging.getLogger("gateway.effects")

D = TypeVar("D", bound=r.Decision)
T = TypeVar("T")


def sound_frame(settings: GlobalSettings, event: str, conversation_id: str) -> p.Sound | None:
    """The sound the console plays for this event, or None when it is silent."""
    name = settings.sounds.get(event, "")
    if not name:
        return None
    return p.Sound(event=event, sound=name, conversation_id=conversation_id)  # type: ignore[arg-type]


def reply_sound(settings: GlobalSettings) -> p.SoundCue | None:
    """The sound a contact's message to its owner carries in its frame, or None (silent)."""
    name = settings.sounds.get("reply", "")
    return p.SoundCue(event="reply", sound=name) if name else None


@dataclass
class Told:
    """What the notify steps leave for the end: rows to refresh, offers, sounds."""

    rows: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    offers: list[r.Offered] = field(default_factory=list)
    sounds: list[r.Sound] = field(default_factory=list)


def involved(decisions: Iterable[r.Decision]) -> dict[str, set[str]]:
    """The agents each decision's conversation concerns (the one it goes to or leaves):
    whose rows to send again when carrying the decisions out failed half way."""
    rows: dict[str, set[str]] = defaultdict(set)
    for d in decisions:
        cid = getattr(d, "conversation_id", None)
        if cid is None:
            continue
        agents = (getattr(d, "agent_id", None), getattr(d, "from_agent_id", None))
        rows[cid].update(a for a in agents if a)
    return rows


@dataclass(frozen=True)
class Effect(Generic[D, T]):
    persist: Callable[[Effects, D, float], Awaitable[T]]
    notify: Callable[[Effects, D, T, Told], Awaitable[None]]


class Effects:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        notifier: Notifier,
        summaries: Summaries,
        access: AccessPolicy,
        deliveries: Deliveries,
        router: Callable[[], r.Router],
        announcer: Announcer,
        outbox: Outbox,
    ) -> None:
        self.store = store
        self.directory = directory
        self.notifier = notifier
        self.summaries = summaries
        self.access = access
        self.deliveries = deliveries
        self.router = router
        self.announcer = announcer
        self.outbox = outbox
        self.live: LiveView | None = None  # set by the composition root

    async def announce(
        self, event_type: str, conversation_id: str, now: float, bot: str = "", **changes: Any
    ) -> list[Announcement]:
        """The announcement of a change about to be made (``changes``, to filter on the
        conversation as it will be); reads the conversation only when someone wants it."""
        if not bot and not self.announcer.wants(event_type):
            return []
        conv = await self.store.get_conversation(conversation_id)
        after = msgspec.structs.replace(conv, **changes) if changes else conv
        return self.announcer.conversation(event_type, after, at=now, bot=bot)

    async def update(
        self,
        conversation_id: str,
        announce: list[Announcement],
        written: MessageEvents | None = None,
        **changes: Any,
    ) -> Conversation:
        """The change, and its announcements in the same transaction; with ``written``,
        those of the messages written while the conversation was ``new``, when this
        change routes it (the store reads them under its row lock)."""
        conv = await self.store.update_conversation(
            conversation_id, announce=announce, announce_written=written, **changes
        )
        announced = announce + (written.announced if written is not None else [])
        if announced:
            self.outbox.wake(announced)
        return conv

    async def refresh_rows(self, rows: Mapping[str, Iterable[str]]) -> None:
        """Each conversation's Inbox row as it is now to these agents (a conversation
        gone since has no row to send)."""
        router = self.router()
        for cid, agents in rows.items():
            try:
                conv = await self.store.get_conversation(cid)
            except NotFound:
                continue
            told = sorted(agents)
            if conv.owner_agent_id in told:
                # The owner's next reply is written on this row on their node, not on a
                # read; sent first, so the node has it when the owner sees the row.
                self.notifier.owner_row(conv)
            for agent_id, summary in await self.summaries.summaries(router, told, conv):
                await self.notifier.agent(agent_id, p.ConversationUpdate(conversation=summary))

    async def carry_out(
        self, decisions: Iterable[r.Decision], now: float, event: r.Event | None = None
    ) -> None:
        decisions = list(decisions)
        done: list[tuple[Effect[Any, Any], r.Decision, Any]] = []
        for d in decisions:
            effect = EFFECTS[type(d)]
            done.append((effect, d, await effect.persist(self, d, now)))
        told = Told()
        for effect, d, persisted in done:
            await effect.notify(self, d, persisted, told)
        await self.refresh_rows(told.rows)
        router = self.router()
        for offer in told.offers:
            conv = await self.store.get_conversation(offer.conversation_id)
            summary = await self.summaries.summary(router, offer.agent_id, conv)
            await self.notifier.agent(
                offer.agent_id,
                p.Offer(
                    conversation=summary,
                    expires_at=offer.expires_at,
                    expires_in=max(0.0, offer.expires_at - now),
                ),
            )
        for s in told.sounds:
            await self.sound(s.agent_id, s.event, s.conversation_id)
        await self.tell_supervisors(decisions, event, now)

    async def show_supervisors_all(self, now: float) -> None:
        """The whole live view, to every online supervisor and admin, after the router
        was rebuilt (a configuration change, a deleted agent or contact, an election):
        rows the rebuild dropped sent no update, and an open Live view kept them (a
        deleted agent, a deleted contact's conversations in their queue's count)."""
        if self.live is not None:
            live = self.live
            await self._to_watchers(lambda: live.snapshot(now))

    async def tell_supervisors(
        self, decisions: list[r.Decision], event: r.Event | None, now: float
    ) -> None:
        """The live view's rows this event touched, to every online supervisor and admin
        (gateway/services/live.py). Told, not kept: a failure here is logged, and the
        next snapshot a console asks for is whole again."""
        if self.live is None:
            return
        conversations: list[str] = []
        agents: list[str] = []
        for item in (event, *decisions):
            cid = getattr(item, "conversation_id", None)
            if isinstance(cid, str) and cid:
                conversations.append(cid)
            for name in ("agent_id", "from_agent_id", "to_agent_id"):
                value = getattr(item, name, None)
                if isinstance(value, str) and value:
                    agents.append(value)
        # A conversation moved to another queue left the one it was counted in: that
        # queue's count too (the rows' queues are only where it is now).
        left = sorted(
            {
                q
                for d in decisions
                if isinstance(d, r.InboxVisibility) and not d.visible
                for q in d.queue_ids
            }
        )
        if conversations or agents:
            live = self.live

            async def view() -> p.LiveUpdate:
                frame = await live.update(conversations, agents, now)
                counted = {q.queue_id for q in frame.queues}
                missing = [q for q in left if q not in counted]
                if not missing:
                    return frame
                more = live.queues(self.router(), missing)
                return msgspec.structs.replace(frame, queues=[*frame.queues, *more])

            await self._to_watchers(view)

    async def _to_watchers(self, view: Callable[[], Awaitable[p.Frame]]) -> None:
        """``view()``'s frame to every online supervisor and admin, made only if any."""
        watchers = self.access.live_watchers()
        if not watchers:
            return
        try:
            frame = p.encode(await view())
            for agent_id in sorted(watchers):
                await self.notifier.agent(agent_id, frame)
        except GatewayError as exc:
            log.warning("live view not sent: %s", exc)

    async def sound(self, agent_id: str, event: str, conversation_id: str) -> None:
        frame = sound_frame(self.directory.settings, event, conversation_id)
        if frame is not None:
            await self.notifier.agent(agent_id, frame)

    async def event_message(
        self, conv: Conversation, event: str, agent_id: str, now: float, reason: str = ""
    ) -> Message:
        """Store a conversation event the contact sees (joined, left, ended); a channel
        that delivers events (the integration API) gets it as a delivery job."""
        spec = CHANNELS.get(conv.channel)
        delivered = spec is not None and spec.tracked_delivery and spec.delivers_events
        msg, created = await self.store.append_message(
            conv.id,
            sender="system",
            sender_id="router",
            client_msg_id=f"{event}-{agent_id}-{now}",
            body=event_body(event, self.directory.agent_name(agent_id), reason=reason),
            now=now,
            kind="event",
            delivery="pending" if delivered else "",
        )
        if delivered and created:
            self.deliveries.wake()
        return msg

    async def deliver(
        self,
        conv: Conversation,
        messages: Iterable[Message],
        name: str,
        unread: int | None = None,
    ) -> None:
        """Hand stored messages to the contact side of the conversation's channel;
        ``unread``: the contact's count after them, when they changed it (a text)."""
        for msg in messages:
            frame = p.encode(frame_for(msg, name))
            await self.notifier.contact(conv, MessageNote(msg, name, frame, unread))


# -- the handlers -----------------------------------------------------------------------

Stored = tuple[Conversation, list[Message]]


async def _nothing(fx: Effects, d: Any, now: float) -> None:
    return None


async def _no_one(fx: Effects, d: Any, persisted: Any, told: Told) -> None:
    return None


async def _persist_queued(fx: Effects, d: r.Queued, now: float) -> Conversation:
    # The arrival was routed: the conversation leaves "new" (routing.md, "Arrival") for
    # its queues, or for a bot first. Either way it has started.
    state = "bot" if d.bot_id else "waiting"
    changes: dict[str, Any] = {"state": state, "queue_ids": list(d.queue_ids)}
    if d.bot_id:
        changes.update(bot_id=d.bot_id, bot_until=d.bot_until)
    announce = await fx.announce(
        "conversation.started", d.conversation_id, now, d.bot_id or "", **changes
    )
    # Routed by its first message: what the contact wrote while it was new was announced
    # to no one; it is now, after the start, to the webhooks that want it and to its bot
    # -- read by the store in the transaction that routes it, so a message stored at the
    # same moment (another tab, another node) is announced either here or by its append.
    return await fx.update(
        d.conversation_id,
        announce,
        fx.announcer.written(d.bot_id or ""),
        priority=d.priority,
        acceptance=d.acceptance,
        # waiting in its dedicated agent's backlog: a rebuild restores it there
        dedicated=d.mode == "dedicated",
        **changes,
    )


async def _notify_bot(
    fx: Effects, d: r.Queued | r.BotReleased, conv: Conversation, _: Told
) -> None:
    # The contact's side learns whether a bot answers (the widget then promises no
    # agent) and when it hands over to the agents.
    if isinstance(d, r.BotReleased) or d.bot_id:
        await fx.notifier.contact(conv, BotNote(active=conv.state == "bot"))


async def _persist_released(fx: Effects, d: r.BotReleased, now: float) -> Conversation:
    # Out of the bot's hands: it waits from now; what the contact told the bot is the
    # agent's context, not unread news.
    changes: dict[str, Any] = {
        "state": "waiting",
        "bot_until": None,
        "arrived_at": d.arrived_at,
        "queue_ids": list(d.queue_ids),
    }
    announce = await fx.announce("conversation.handed_over", d.conversation_id, now, d.bot_id)
    announce = [a._replace(data={"handover": {"reason": d.reason}}) for a in announce]
    conv = await fx.update(d.conversation_id, announce, **changes)
    await fx.store.mark_read(conv.id, "agent", conv.last_seq)
    return conv


async def _notify_offered(fx: Effects, d: r.Offered, _: None, told: Told) -> None:
    told.offers.append(d)


async def _notify_withdrawn(fx: Effects, d: r.OfferWithdrawn, _: None, told: Told) -> None:
    await fx.notifier.agent(
        d.agent_id, p.OfferWithdrawn(conversation_id=d.conversation_id, reason=d.reason)
    )
    told.rows[d.conversation_id].add(d.agent_id)


async def _persist_assigned(fx: Effects, d: r.Assigned, now: float) -> Stored:
    changes: dict[str, Any] = {"state": "assigned", "owner_agent_id": d.agent_id}
    announce = [
        a._replace(
            data={
                "assignment": {
                    "agent_id": d.agent_id,
                    "agent_name": fx.directory.agent_name(d.agent_id),
                    "how": d.how,
                    "from_agent_id": d.from_agent_id,
                }
            }
        )
        for a in await fx.announce("conversation.assigned", d.conversation_id, now, **changes)
    ]
    conv = await fx.update(
        d.conversation_id,
        announce,
        weight=d.weight,
        dedicated=d.dedicated,
        **changes,
    )
    events = []
    previous = d.from_agent_id
    if previous and previous != d.agent_id:
        events.append(await fx.event_message(conv, "agent_left", previous, now))
    if previous != d.agent_id:
        events.append(await fx.event_message(conv, "agent_joined", d.agent_id, now))
    return conv, events


async def _notify_assigned(fx: Effects, d: r.Assigned, stored: Stored, told: Told) -> None:
    conv, events = stored
    await fx.deliver(conv, events, "")
    if d.from_agent_id and d.from_agent_id != d.agent_id:
        told.rows[conv.id].add(d.from_agent_id)
    told.rows[conv.id].add(d.agent_id)


async def _persist_requeued(fx: Effects, d: r.Requeued, now: float) -> Stored:
    conv = await fx.store.update_conversation(
        d.conversation_id,
        state="waiting",
        owner_agent_id=None,
        weight=0,
        queue_ids=list(d.queue_ids),
        dedicated=False,  # back in a queue, the router's simplified mode: no agent's backlog
    )
    if not d.from_agent_id:
        return conv, []
    # Back to waiting for the next agent: the contact is told so, not just "Ada left".
    left = await fx.event_message(conv, "agent_left", d.from_agent_id, now, "requeued")
    return conv, [left]


async def _notify_requeued(fx: Effects, d: r.Requeued, stored: Stored, told: Told) -> None:
    conv, events = stored
    await fx.deliver(conv, events, "")
    if d.from_agent_id:
        told.rows[conv.id].add(d.from_agent_id)


async def _persist_auto_reply(fx: Effects, d: r.AutoReply, now: float) -> Stored:
    conv = await fx.store.get_conversation(d.conversation_id)
    tracked = fx.deliveries.tracks(conv.channel)
    announce = fx.announcer.messages(conv, to_bot=False)
    msg, _ = await fx.store.append_message(
        conv.id,
        sender="system",
        sender_id="router",
        client_msg_id=f"auto-{conv.id}",
        body=d.text,
        now=now,
        delivery="pending" if tracked else "",
        announce=announce,
    )
    if tracked:
        fx.deliveries.wake()
    if announce is not None and announce.announced:
        fx.outbox.wake(announce.announced)
    return conv, [msg]


async def _notify_auto_reply(fx: Effects, d: r.AutoReply, stored: Stored, told: Told) -> None:
    conv, messages = stored
    # a text the contact has not read: its frame says the count, as an agent's does (one
    # read of the row, once per conversation)
    after = await fx.store.get_conversation(conv.id)
    await fx.deliver(
        conv, messages, fx.directory.display_name(conv.touchpoint_id), after.contact_unread
    )


def _reason(by: EndedBy) -> str:
    """The ended event's reason: who ended it, unless its agent did."""
    return "" if by == "agent" else by


async def _persist_ended(fx: Effects, d: r.Ended, now: float) -> Stored:
    announce = await fx.announce("conversation.ended", d.conversation_id, now, state="wrapup")
    announce = [a._replace(data={"ended_by": d.by}) for a in announce]
    conv = await fx.update(d.conversation_id, announce, state="wrapup", ended_at=now)
    return conv, [await fx.event_message(conv, "ended", d.agent_id, now, _reason(d.by))]


async def _notify_ended(fx: Effects, d: r.Ended, stored: Stored, told: Told) -> None:
    conv, events = stored
    await fx.deliver(conv, events, "")
    if d.by != "agent":  # the agent did not do it: their console shows why it ended
        for msg in events:
            await fx.notifier.agent(d.agent_id, frame_for(msg, ""))
    told.rows[conv.id].add(d.agent_id)


async def _persist_closed(fx: Effects, d: r.Closed, now: float) -> Stored:
    changes: dict[str, Any] = {"state": "closed", "closed_at": now}
    announce: list[Announcement] = []
    unheld = not d.agent_id
    if unheld:  # its contact ended it (or it went idle) before any agent held it
        before = await fx.store.get_conversation(d.conversation_id)
        bot = before.bot_id if before.state == "bot" else ""
        announce = await fx.announce(
            "conversation.ended", d.conversation_id, now, bot, ended_at=now, **changes
        )
        announce = [a._replace(data={"ended_by": d.by}) for a in announce]
        changes["ended_at"] = now
    conv = await fx.update(
        d.conversation_id,
        announce,
        notes=d.notes,
        disposition=d.disposition or "",
        **changes,
    )
    if not unheld:
        return conv, []
    # no Ended came first: the contact's sessions (or the integration) see the end here
    return conv, [await fx.event_message(conv, "ended", "", now, _reason(d.by))]


async def _notify_closed(fx: Effects, d: r.Closed, stored: Stored, told: Told) -> None:
    conv, events = stored
    await fx.deliver(conv, events, "")
    if conv.owner_agent_id:
        told.rows[conv.id].add(conv.owner_agent_id)


async def _notify_visibility(fx: Effects, d: r.InboxVisibility, _: None, told: Told) -> None:
    told.rows[d.conversation_id].update(fx.access.inbox_viewers(d.queue_ids, d.agent_id))


async def _notify_sound(fx: Effects, d: r.Sound, _: None, told: Told) -> None:
    told.sounds.append(d)


EFFECTS: dict[type[r.Decision], Effect[Any, Any]] = {
    r.Queued: Effect(_persist_queued, _notify_bot),
    r.BotReleased: Effect(_persist_released, _notify_bot),
    r.Offered: Effect(_nothing, _notify_offered),
    r.OfferWithdrawn: Effect(_nothing, _notify_withdrawn),
    r.Assigned: Effect(_persist_assigned, _notify_assigned),
    r.Requeued: Effect(_persist_requeued, _notify_requeued),
    r.AutoReply: Effect(_persist_auto_reply, _notify_auto_reply),
    r.Ended: Effect(_persist_ended, _notify_ended),
    r.Closed: Effect(_persist_closed, _notify_closed),
    r.InboxVisibility: Effect(_nothing, _notify_visibility),
    r.Sound: Effect(_nothing, _notify_sound),
}
