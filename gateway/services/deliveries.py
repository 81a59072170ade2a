"""Outbound delivery through providers: what agents and the system write to a contact on
a channel whose adapter delivers it (SMS, WhatsApp, Messenger, email, the integration
API; gateway/model/channels.py ``tracked_delivery``).

The message is the job. It is committed as ``pending`` (in the same statement as the
message itself, so nothing written is ever left undelivered), then a worker on some
node claims it for a lease, hands it to the channel's adapter and records the outcome
on the message: ``sent`` with the provider's id (its status callbacks then move it to
``delivered``, ``read`` or ``failed``), a retry with exponential backoff and jitter
after a timeout or a provider's 5xx, or ``failed`` with a reason for the agent. A node
that dies mid-delivery leaves its claim to expire and another node delivers: delivery
is at least once (a crash between the provider's acceptance and the record of it may
send twice), never lost. A conversation's messages go out in order: only its earliest
pending message is ever claimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import unicodedata
from collections.abc import Callable
from typing import Protocol

import httpx
import msgspec

from gateway import metrics
from gateway import protocol as p
from gateway.aio import cancel_and_wait
from gateway.errors import InvalidInput, NotFound
from gateway.model.channel_state import Content
from gateway.model.channels import CHANNELS
from gateway.model.inbound import DeliveryReport
from gateway.model.records import Agent, AttachmentRef, Conversation, Message, Touchpoint
from gateway.ports.store.base import DeliveryJob, Store
from gateway.services.notify import Notifier

log = logging.getLogger("gateway.deliveries")


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What an adapter's attempt to deliver came to."""

    sent: bool
    # the provider's id for the message (sent), for its status callbacks
    provider_id: str = ""
    # why it failed, in words an agent understands (never a credential or raw payload)
    reason: str = ""
    # a failure worth trying again (a timeout, the provider's 5xx, a rate limit)
    retryable: bool = False
    # the provider asked to wait this long (seconds) before trying again
    retry_after: float | None = None
    # not attempted: the channel cannot send now (its provider connection is lost and
    # an admin must reconnect it); the message waits, however long, and this does not
    # count as an attempt
    held: bool = False


def sent(provider_id: str = "") -> Outcome:
    return Outcome(sent=True, provider_id=provider_id)


def failed(reason: str, *, retryable: bool = False, retry_after: float | None = None) -> Outcome:
    return Outcome(sent=False, reason=reason, retryable=retryable, retry_after=retry_after)


def held(reason: str, retry_after: float = 60.0) -> Outcome:
    """The channel cannot send now; ask again in ``retry_after`` seconds (uncounted)."""
    return Outcome(sent=False, reason=reason, retryable=True, retry_after=retry_after, held=True)


def credential_problem(value: str) -> str:
    """Why ``value`` cannot be a provider's token, secret or account id ("" when it
    can): what goes into an HTTP header, a URL or a signature's key is printable ASCII
    without spaces, as providers issue them. ``value`` is never quoted (a secret): the
    answer names the first character that does not belong, and where it is."""
    for i, ch in enumerate(value, 1):
        if not "\x21" <= ch <= "\x7e":
            what = {" ": "a space", "\n": "a line break", "\r": "a line break", "\t": "a tab"}
            name = what.get(ch) or f"U+{ord(ch):04X} {unicodedata.name(ch, 'a control character')}"
            return (
                f"only printable ASCII characters without spaces, as the provider issues"
                f" it: character {i} is {name} (copy the whole value from the provider)"
            )
    return ""


# What an adapter may raise when its request to the provider cannot even be built (a
# header value HTTP cannot carry, an address that is no URL): nothing was sent, and no
# retry can succeed until an admin corrects the touchpoint's settings, so the message
# fails for good. An adapter checks its settings first (credential_problem) and tells
# the admins; this catches what such a check missed.
UNBUILDABLE: tuple[type[Exception], ...] = (
    UnicodeEncodeError,
    httpx.LocalProtocolError,
    httpx.InvalidURL,
    httpx.UnsupportedProtocol,
)
UNBUILDABLE_REASON = (
    "the gateway could not build the request to the provider from this touchpoint's"
    " settings; an admin must correct them, then replay the message"
)


class OutboundChannel(Protocol):
    """What the delivery worker needs of a channel's adapter."""

    async def check_outbound(self, conv: Conversation) -> None:
        """Refuse, with a GatewayError, a message that must not be sent now (an
        opted-out number, a closed session window); called before it is stored."""

    async def check_content(self, conv: Conversation, agent: Agent, content: Content) -> Content:
        """The channel content an agent's message carries (email: recipients, subject,
        HTML), normalised; InvalidInput naming every bad field otherwise."""
        ...

    async def deliver(self, conv: Conversation, message: Message) -> Outcome: ...


# Email on behalf of another channel: an email touchpoint that carries what a chat writes
# to its visitor by email (the answer to a message they left, a transcript they asked
# for; docs/widget.md, "Answers and transcripts by email"). The email adapter registers
# the carrier (channels/email/carrier.py); the chat adapter composes the Mail.
class Mail(msgspec.Struct, frozen=True, kw_only=True):
    """One email to a contact, through an email touchpoint."""

    to: str
    subject: str
    # the plain-text part; ``html`` the HTML part (already escaped by whoever wrote it;
    # the carrier sanitises it once more), empty: derived from the text
    text: str
    html: str = ""
    # who it is from, as the recipient reads it ("Example Shop"); the address is the
    # touchpoint's own
    from_name: str = ""
    # a stable key: the same key gets the same Message-ID on every attempt, so a retry
    # is recognisable as the same email
    key: str
    # files sent along (an agent's attachments), read from the attachments service
    attachments: tuple[AttachmentRef, ...] = ()
    # marked as automatic (a transcript): no out-of-office answers to it
    automatic: bool = False


class MailCarrier(Protocol):
    """What the email adapter offers other channels."""

    def sender(self, touchpoint_id: str) -> Touchpoint | None:
        """The email touchpoint if it can send now (exists, active, sends), else None."""
        ...

    async def send(self, touchpoint_id: str, mail: Mail) -> Outcome:
        """Send it; the outcome is the delivery worker's (sent, failed, held)."""
        ...


def retry_delay(
    attempts: int,
    *,
    base: float = 2.0,
    cap: float = 300.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: exponential
    (base, 2 base, 4 base, ... up to cap) with jitter in its upper half, so that many
    retries after one outage do not all come back together."""
    ceiling = min(cap, base * 2.0 ** max(0, attempts - 1))
    return float(ceiling * (0.5 + 0.5 * rng()))


class Deliveries:
    """The delivery service: the worker that claims and delivers, the channels' checks
    before a message is stored, and the record of what providers report."""

    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        clock: Callable[[], float],
        *,
        lease: float = 60.0,
        max_attempts: int = 8,
        retry_base: float = 2.0,
        poll: float = 5.0,
        batch: int = 20,
        concurrency: int = 8,
    ) -> None:
        self._store = store
        self._notifier = notifier
        self._clock = clock
        self.lease = lease
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.poll = poll
        self.batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._channels: dict[str, OutboundChannel] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # status callbacks waiting for the record of a send on this node (by provider id)
        self._recorded: dict[str, asyncio.Event] = {}
        # the email adapter's carrier of other channels' email (Mail, MailCarrier above)
        self.mail: MailCarrier | None = None

    def register(self, channel: str, outbound: OutboundChannel) -> None:
        self._channels[channel] = outbound

    def register_mail(self, carrier: MailCarrier) -> None:
        self.mail = carrier

    async def tracked(self, conv: Conversation) -> bool:
        """Whether what is written to this conversation's contact is a delivery job: on
        a tracked channel, or where the channel's adapter says this conversation is
        followed up through a provider (chat: a left message answered by email)."""
        if self.tracks(conv.channel):
            return True
        follows_up = getattr(self._channels.get(conv.channel), "follows_up", None)
        return follows_up is not None and bool(await follows_up(conv))

    @staticmethod
    def tracks(channel: str) -> bool:
        """Whether what is written to this channel's contacts is a delivery job."""
        spec = CHANNELS.get(channel)
        return spec is not None and spec.tracked_delivery

    def delivers_files(self, channel: str) -> bool:
        """Whether this channel's adapter sends a message's files along (it says so with
        ``delivers_files = True``); a channel whose adapter would drop them takes none
        from agents."""
        return bool(getattr(self._channels.get(channel), "delivers_files", False))

    async def check(self, conv: Conversation) -> None:
        """The channel's refusal of a message to this contact now, if any."""
        outbound = self._channels.get(conv.channel)
        if outbound is not None:
            await outbound.check_outbound(conv)

    async def check_start(
        self, tp: Touchpoint, address: str, content: Content | None
    ) -> tuple[str, dict[str, str]]:
        """The channel's check of a conversation an agent starts: the address as the
        channel keeps it and the contact's fields, or its refusal (InvalidInput,
        Conflict opted_out)."""
        check = getattr(self._channels.get(tp.channel), "check_start", None)
        if check is None:
            raise InvalidInput([("touchpoint_id", f"this gateway cannot start {tp.channel}")])
        result: tuple[str, dict[str, str]] = await check(tp, address, content)
        return result

    async def check_files(self, conv: Conversation) -> None:
        """The channel's refusal of files to this contact (SMS: MMS needs numbers of
        the US, Canada or Australia on both sides), if it has one."""
        check = getattr(self._channels.get(conv.channel), "check_files", None)
        if check is not None:
            await check(conv)

    async def check_content(self, conv: Conversation, agent: Agent, content: Content) -> Content:
        outbound = self._channels.get(conv.channel)
        if outbound is None:
            raise InvalidInput([("content", f"this gateway has no {conv.channel} adapter")])
        return await outbound.check_content(conv, agent, content)

    def wake(self) -> None:
        """A message became due on this node: claim it now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="deliveries")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                jobs = await self._store.claim_deliveries(self._clock(), self.lease, self.batch)
            except Exception as exc:  # the store is down: try again at the next poll
                metrics.count_store_error(exc)
                log.warning("claiming deliveries failed: %s", exc)
                jobs = []
            if jobs:
                await asyncio.gather(*(self._attempt(job) for job in jobs))
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll):
                    await self._wake.wait()

    async def _attempt(self, job: DeliveryJob) -> None:
        conv, message = job.conversation, job.message
        outbound = self._channels.get(conv.channel)
        async with self._slots:
            if outbound is None:
                outcome = failed(f"this gateway has no {conv.channel} adapter", retryable=True)
            else:
                try:
                    outcome = await outbound.deliver(conv, message)
                except UNBUILDABLE as exc:  # the message names no secret: its type only
                    log.warning(
                        "delivering %s/%d failed for good: the request could not be built (%s)",
                        conv.id,
                        message.seq,
                        type(exc).__name__,
                    )
                    outcome = failed(UNBUILDABLE_REASON)
                except Exception:
                    log.exception("delivering %s/%d failed", conv.id, message.seq)
                    outcome = failed("an unexpected error; retrying", retryable=True)
        await self._record(job, outcome)

    async def _record(self, job: DeliveryJob, outcome: Outcome) -> None:
        conv, message = job.conversation, job.message
        try:
            if outcome.held:
                await self._store.retry_delivery(
                    conv.id,
                    message.seq,
                    self._clock() + (outcome.retry_after or 60.0),
                    outcome.reason,
                    counted=False,
                )
                return
            if not outcome.sent and outcome.retryable and job.attempts < self.max_attempts:
                wait = retry_delay(job.attempts, base=self.retry_base)
                if outcome.retry_after is not None:
                    wait = max(wait, outcome.retry_after)
                await self._store.retry_delivery(
                    conv.id, message.seq, self._clock() + wait, outcome.reason
                )
                return
            reason = outcome.reason
            if not outcome.sent and outcome.retryable:  # dead-lettered: replayable
                reason = f"gave up after {job.attempts} attempts: {reason}"
            await self.report(
                DeliveryReport(
                    conversation_id=conv.id,
                    seq=message.seq,
                    status="sent" if outcome.sent else "failed",
                    reason=reason,
                    provider_id=outcome.provider_id,
                )
            )
        except Exception as exc:  # the claim expires and the job is tried again
            log.warning("recording the delivery of %s/%d failed: %s", conv.id, message.seq, exc)

    async def report(self, report: DeliveryReport, conv: Conversation | None = None) -> Message:
        """Record what became of an outbound message (the worker's outcome, or a
        provider's status callback through its adapter) and tell the agents concerned
        (``_tell``) when the state moved; ``conv``: its conversation, when the caller has
        read it. A report that moves nothing (a provider's repeated or late callback, or
        the same callback taken by another node first: the store says) tells nobody."""
        msg, moved = await self._store.set_delivery(
            report.conversation_id,
            report.seq,
            report.status,
            report.reason,
            provider_id=report.provider_id,
        )
        if report.provider_id and report.provider_id in self._recorded:
            self._recorded[report.provider_id].set()
        if moved and msg.delivery:
            frame = p.Delivery(
                conversation_id=msg.conversation_id,
                seq=msg.seq,
                status=msg.delivery,
                reason=msg.delivery_error,
            )
            await self._tell(msg, frame, conv)
        return msg

    async def _tell(self, msg: Message, frame: p.Delivery, conv: Conversation | None) -> None:
        """The agent who wrote the message and the agent the conversation is with now
        (after a transfer; and for a system message, an automatic reply, whose failure
        was told to nobody)."""
        told = {msg.sender_id} if msg.sender == "agent" else set()
        with contextlib.suppress(NotFound):  # deleted meanwhile: its writer only
            conv = conv or await self._store.get_conversation(msg.conversation_id)
            if conv.owner_agent_id:
                told.add(conv.owner_agent_id)
        for agent_id in sorted(told):
            await self._notifier.agent(agent_id, frame)

    async def failed(self, touchpoint_id: str, limit: int = 50) -> list[Message]:
        """The dead letters of a touchpoint: outbound messages whose delivery failed."""
        return await self._store.failed_messages(touchpoint_id, limit)

    async def replay(self, conversation_id: str, seq: int) -> Message:
        """Deliver a failed message again (its conversation's later messages may have
        gone out meanwhile: it keeps its seq, so the receiver can place it)."""
        msg = await self._store.replay_delivery(conversation_id, seq, self._clock())
        self.wake()
        frame = p.Delivery(conversation_id=conversation_id, seq=seq, status="pending")
        await self._tell(msg, frame, None)
        return msg

    async def read_until(self, conversation_id: str, at: float, page: int = 200) -> int:
        """The contact read everything sent to them until ``at`` (a provider's read
        watermark, Messenger's): the conversation's sent and delivered messages written
        until then become read. The number changed."""
        conv = await self._store.get_conversation(conversation_id)
        rows = await self._store.messages(conv.id, before_seq=conv.last_seq + 1, limit=page)
        changed = 0
        for msg in rows:
            if (
                msg.sender != "contact"
                and msg.delivery in ("sent", "delivered")
                and msg.created_at <= at
            ):
                await self.report(
                    DeliveryReport(conversation_id=conv.id, seq=msg.seq, status="read"), conv
                )
                changed += 1
        return changed

    async def by_provider_id(
        self, provider_id: str, touchpoint_id: str, *, wait: float = 0.0
    ) -> Message | None:
        """The outbound message of this touchpoint a provider's status callback names
        (another touchpoint's credentials change nothing of its messages). With
        ``wait``, a callback that overtook the record of the send (the provider answered
        the send and called back at once) waits up to that many seconds for it: on this
        node it is woken by the record; a send recorded by another node is found by the
        last look."""
        msg = await self._store.message_by_provider_id(provider_id)
        if msg is None and wait > 0 and provider_id:
            event = self._recorded.setdefault(provider_id, asyncio.Event())
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await event.wait()
            finally:
                self._recorded.pop(provider_id, None)
            msg = await self._store.message_by_provider_id(provider_id)
        if msg is None:
            return None
        try:
            conv = await self._store.get_conversation(msg.conversation_id)
        except NotFound:
            return None
        return msg if conv.touchpoint_id == touchpoint_id else None
