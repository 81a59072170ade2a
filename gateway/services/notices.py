"""Admin notices: what the admins must act on, from anywhere in the gateway (a provider
refusing a touchpoint's number as an unverified toll-free or unregistered A2P sender,
for example).

A notice is kept in the store first (``GET /api/admin/notices`` lists them), then sent
as a ``notice`` frame to every admin's console online. The same notice about the same
touchpoint is not repeated within ``quiet`` seconds anywhere in the cluster, so one
misconfigured number does not flood the admins with one notice per message, nor with
one per node: the store decides which node gives it (``give_notice``), and each node
remembers the claims it knows of so as not to ask again within them.

A notice given with ``email=True`` (what the reference product also emails: an SMS
refused for an unverified toll-free or unregistered A2P number) is also emailed to every
active admin, in the background, by the adapter registered as the admins' mailer (the
email channel, through a connected email touchpoint); with none registered or none able
to send, the notice alone remains.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from typing import Protocol

from gateway import protocol as p
from gateway.aio import cancel_and_wait
from gateway.auth import new_id
from gateway.model.records import AdminNotice, NoticeKind
from gateway.ports.store.base import Store
from gateway.services.directory import Directory
from gateway.services.notify import Notifier

log = logging.getLogger("gateway.notices")
# Notices remembered (each for its quiet time) before those past it are forgotten
KEPT = 1000
# An emailed notice's subject, by kind
SUBJECTS: dict[NoticeKind, str] = {
    "sending_refused": "Action needed: a provider refused to send",
    "provider_error": "Action needed: a provider error",
}


class AdminMailer(Protocol):
    """What the email adapter offers the notices: an email to every active admin."""

    async def email_admins(self, subject: str, text: str) -> list[str]:
        """Email every active admin through an email touchpoint that can send now; the
        addresses reached ([] when no touchpoint could send or no admin is active)."""
        ...


class AdminNotices:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        notifier: Notifier,
        clock: Callable[[], float],
        *,
        quiet: float = 3600.0,
    ) -> None:
        self._store = store
        self._dir = directory
        self._notifier = notifier
        self._clock = clock
        self.quiet = quiet
        self._last: dict[tuple[str, str, str], float] = {}
        self._mailer: AdminMailer | None = None
        self._mailing: set[asyncio.Task[None]] = set()

    def register_mailer(self, mailer: AdminMailer) -> None:
        self._mailer = mailer

    async def stop(self) -> None:
        """Give up the emails still being sent (a node shutting down)."""
        for task in list(self._mailing):
            await cancel_and_wait(task)

    async def notify(
        self,
        kind: NoticeKind,
        message: str,
        *,
        touchpoint_id: str = "",
        conversation_id: str = "",
        email: bool = False,
    ) -> AdminNotice | None:
        """Keep the notice and show it to the admins online (and, with ``email``, email
        it to them in the background); None when the same notice was given less than
        ``quiet`` seconds ago, by this node or another."""
        now = self._clock()
        key = (kind, touchpoint_id, message)
        # a claim this node knows of still stands: no need to ask the store
        if now - self._last.get(key, float("-inf")) < self.quiet:
            return None
        if len(self._last) >= KEPT:  # each distinct message is a key: forget the old ones
            self._last = {k: t for k, t in self._last.items() if now - t < self.quiet}
        notice = AdminNotice(
            id=new_id("nt"),
            kind=kind,
            message=message,
            touchpoint_id=touchpoint_id,
            conversation_id=conversation_id,
            created_at=now,
        )
        # every node sees a provider's refusal: the store lets one of them give it (a
        # store that fails keeps nothing and claims nothing: the next one tries again)
        digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()
        standing = await self._store.give_notice(notice, digest, quiet=self.quiet)
        # given by another node then, or now by this one: not asked again till it lapses
        self._last[key] = now if standing is None else standing
        if standing is not None:
            return None
        log.warning("admin notice (%s, touchpoint %s): %s", kind, touchpoint_id or "-", message)
        frame = p.encode(
            p.NoticeOut(
                id=notice.id,
                kind=kind,
                message=message,
                at=now,
                touchpoint_id=touchpoint_id,
                conversation_id=conversation_id,
            )
        )
        for agent in self._dir.agents.values():
            if agent.active and agent.role == "admin":
                await self._notifier.agent(agent.id, frame)
        if email and self._mailer is not None:
            # in the background: a slow mail server must not hold up the provider's
            # callback or the delivery that gave the notice
            task = asyncio.create_task(
                self._email(self._mailer, notice), name=f"notice email {notice.id}"
            )
            self._mailing.add(task)
            task.add_done_callback(self._mailing.discard)
        return notice

    async def _email(self, mailer: AdminMailer, notice: AdminNotice) -> None:
        tp = self._dir.touchpoints.get(notice.touchpoint_id)
        subject = f"{SUBJECTS.get(notice.kind, 'Action needed')}{f': {tp.name}' if tp else ''}"
        text = (
            f"{notice.message}\n\nThis notice is also in the admin section's notices"
            " (GET /api/admin/notices)."
        )
        try:
            reached = await mailer.email_admins(subject, text)
        except Exception:  # the notice is kept and shown: the email is only a copy
            log.exception("admin notice %s could not be emailed", notice.id)
            return
        if reached:
            log.info("admin notice %s emailed to %d admin(s)", notice.id, len(reached))
        else:
            log.warning(
                "admin notice %s not emailed: no active admin, or no email touchpoint could send it",
                notice.id,
            )
