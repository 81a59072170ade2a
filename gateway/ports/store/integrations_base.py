"""The store operations of the integration API, bots and automations
(gateway/model/integrations.py): API keys, idempotency keys, transcripts, webhooks and
the outbox, and the dead letters of outbound messages. Part of the :class:`Store`
interface (base.py); one transaction per call, like the rest."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from gateway.model.integrations import (
    ApiKey,
    IdempotencyRecord,
    OutboxEvent,
    OutboxState,
    TranscriptLine,
    Webhook,
)
from gateway.model.records import Message


class IntegrationStore(abc.ABC):
    # -- API keys ------------------------------------------------------------------
    @abc.abstractmethod
    async def create_api_key(self, key: ApiKey) -> None:
        """Conflict for a taken id or digest; NotFound for an unknown touchpoint.
        Deleting the touchpoint deletes its keys."""

    @abc.abstractmethod
    async def api_key_by_digest(self, digest: str) -> ApiKey | None:
        """The key with this digest, revoked or not."""

    @abc.abstractmethod
    async def list_api_keys(self, touchpoint_id: str) -> list[ApiKey]:
        """The touchpoint's keys, revoked ones included, oldest first."""

    @abc.abstractmethod
    async def revoke_api_key(self, touchpoint_id: str, key_id: str, now: float) -> ApiKey:
        """Revoked from ``now`` (idempotent: a second revocation keeps the first time);
        NotFound for a key of another touchpoint or none."""

    # -- idempotency keys -------------------------------------------------------------
    @abc.abstractmethod
    async def claim_idempotency(
        self, scope: str, key: str, fingerprint: str, now: float, expires_at: float
    ) -> IdempotencyRecord | None:
        """Take the key for a first request (None), or return the record of the request
        that took it (running: status 0, or answered). An expired record is taken over."""

    @abc.abstractmethod
    async def finish_idempotency(self, scope: str, key: str, status: int, body: str) -> None:
        """Record the first request's answer, for its replays."""

    @abc.abstractmethod
    async def release_idempotency(self, scope: str, key: str) -> None:
        """The first request failed without an answer worth replaying: free the key
        (only while it is running)."""

    @abc.abstractmethod
    async def purge_idempotency(self, now: float) -> int:
        """Delete the records expired by ``now``; return how many."""

    # -- transcripts ------------------------------------------------------------------
    @abc.abstractmethod
    async def add_transcript(
        self, conversation_id: str, lines: list[TranscriptLine], now: float
    ) -> list[TranscriptLine]:
        """Append lines to the conversation's transcript and return all of it; NotFound
        for an unknown conversation. It goes with its conversation."""

    @abc.abstractmethod
    async def first_transcript(
        self, conversation_id: str, lines: list[TranscriptLine], now: float
    ) -> bool:
        """Keep ``lines`` as the conversation's transcript if it has none yet (another's
        committed at the same moment included): whether they were kept. NotFound for an
        unknown conversation."""

    @abc.abstractmethod
    async def get_transcript(self, conversation_id: str) -> list[TranscriptLine]:
        """The transcript, oldest line first ([] when there is none)."""

    # -- webhooks (automations) ------------------------------------------------------------
    @abc.abstractmethod
    async def put_webhook(self, webhook: Webhook) -> None:
        """Insert or replace by id."""

    @abc.abstractmethod
    async def update_webhook(self, webhook: Webhook) -> None:
        """Replace only: NotFound when the webhook is gone (``Store.update_touchpoint``)."""

    @abc.abstractmethod
    async def create_webhook(self, webhook: Webhook) -> None:
        """Insert only: Conflict (field ``id``) when the id is taken."""

    @abc.abstractmethod
    async def get_webhook(self, webhook_id: str) -> Webhook: ...

    @abc.abstractmethod
    async def list_webhooks(self) -> list[Webhook]:
        """By name, then id."""

    @abc.abstractmethod
    async def delete_webhook(self, webhook_id: str) -> None:
        """NotFound when absent; its outbox rows (its events, any state) go with it, in
        the same transaction."""

    # -- the outbox ----------------------------------------------------------------------
    @abc.abstractmethod
    async def claim_outbox(
        self, now: float, lease: float, limit: int, *, skip: Sequence[str] = ()
    ) -> list[OutboxEvent]:
        """In one transaction, claim up to ``limit`` pending events that are due, the
        earliest pending one of each (target, conversation) only (so each target gets a
        conversation's events in order), none for the targets in ``skip``: each becomes
        due again at ``now + lease`` and counts one more attempt. Oldest due first."""

    @abc.abstractmethod
    async def record_outbox(
        self,
        now: float,
        *,
        sent: Sequence[int] = (),
        retry: Sequence[tuple[int, float, str]] = (),
        dead: Sequence[tuple[int, str]] = (),
    ) -> None:
        """What came of claimed events, in one transaction (pending ones only): ``sent``
        (delivered at ``now``), ``retry`` (n, due again at, why), ``dead`` (n, why:
        dead-lettered). An event leaving pending makes the next pending event of its
        target and conversation due: a dead one steps aside, the others go on."""

    @abc.abstractmethod
    async def list_outbox(
        self,
        target: str,
        *,
        state: OutboxState | None = None,
        limit: int = 50,
        before_n: int | None = None,
    ) -> list[OutboxEvent]:
        """A target's events, newest first (by ``n``), older than ``before_n`` if given."""

    @abc.abstractmethod
    async def replay_outbox(self, target: str, event_id: str, now: float) -> OutboxEvent:
        """A dead (or sent) event is pending again, due now, with no attempts; NotFound
        for an unknown one, Conflict for one still pending."""

    @abc.abstractmethod
    async def purge_outbox(self, sent_before: float) -> int:
        """Delete the events delivered before ``sent_before``; return how many."""

    # -- dead letters of outbound messages -------------------------------------------------
    @abc.abstractmethod
    async def failed_messages(self, touchpoint_id: str, limit: int = 50) -> list[Message]:
        """Outbound messages of the touchpoint's conversations whose delivery failed,
        newest first."""

    @abc.abstractmethod
    async def replay_delivery(self, conversation_id: str, seq: int, now: float) -> Message:
        """A failed outbound message is a delivery job again, due now, with no attempts;
        NotFound for an unknown message, Conflict for one whose delivery did not fail."""
