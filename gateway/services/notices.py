"""Admin notices: what the admins must act on, from anywhere in the gateway (a provider
refusing a touchpoint's number as an unverified toll-free or unregistered A2P sender,
for example).

A notice is kept in the store first (``GET /api/admin/notices`` lists them), then sent
as a ``notice`` frame to every admin's console online. The same notice about the same
touchpoint is not repeated within ``quiet`` seconds on this node, so one misconfigured
number does not flood the admins with one notice per message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway import protocol as p
from gateway.auth import new_id
from gateway.model.records import AdminNotice, NoticeKind
from gateway.ports.store.base import Store
from gateway.services.directory import Directory
from gateway.services.notify import Notifier

log = logging.getLogger("gateway.notices")
# Notices remembered (each for its quiet time) before those past it are forgotten
KEPT = 1000


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

    async def notify(
        self,
        kind: NoticeKind,
        message: str,
        *,
        touchpoint_id: str = "",
        conversation_id: str = "",
    ) -> AdminNotice | None:
        """Keep the notice and show it to the admins online; None when the same notice
        was given less than ``quiet`` seconds ago."""
        now = self._clock()
        key = (kind, touchpoint_id, message)
        if now - self._last.get(key, float("-inf")) < self.quiet:
            return None
        if len(self._last) >= KEPT:  # each distinct message is a key: forget the old ones
            self._last = {k: t for k, t in self._last.items() if now - t < self.quiet}
        self._last[key] = now
        notice = AdminNotice(
            id=new_id("nt"),
            kind=kind,
            message=message,
            touchpoint_id=touchpoint_id,
            conversation_id=conversation_id,
            created_at=now,
        )
        await self._store.add_notice(notice)
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
        return notice
