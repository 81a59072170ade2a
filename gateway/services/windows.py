"""Session windows: how long after the contact's last message an agent may write on a
channel that has one (WhatsApp 24 h, Messenger 7 days; gateway/model/channels.py).
The contact's next message reopens it; the conversation stays open meanwhile."""

from __future__ import annotations

from collections.abc import Callable

from gateway.errors import Conflict
from gateway.model.channels import channel, window_closes_at
from gateway.model.records import Conversation
from gateway.ports.store.base import Store


class SessionWindows:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    async def closes_at(self, conv: Conversation) -> float | None:
        """When the window closes (server time), or None on a channel without one."""
        spec = channel(conv.channel)
        if spec.session_window is None:
            return None
        last = await self._store.last_contact_message_at(conv.id)
        # A conversation of these channels starts with the contact's message: before it is
        # stored (the row agents get on its arrival), the window counts from the arrival.
        return window_closes_at(spec, conv.created_at if last is None else last)

    async def left(self, conv: Conversation) -> tuple[float, float] | None:
        """(closes at, seconds left now, 0 when closed), or None without a window."""
        closes = await self.closes_at(conv)
        if closes is None:
            return None
        return closes, max(0.0, closes - self._clock())

    async def check_open(self, conv: Conversation) -> None:
        """Refuse (Conflict ``session_expired``) when the window is closed."""
        left = await self.left(conv)
        if left is not None and left[1] <= 0:
            label = channel(conv.channel).label
            raise Conflict(
                f"the {label} session window has closed: only the contact can reopen it by"
                " writing again",
                code="session_expired",
            )
