"""What the console shows of a session-window channel's conversation (WhatsApp,
Messenger): the time left, and the lock with its notice once the window is closed."""

from __future__ import annotations

from channels.base import Core
from gateway import protocol as p
from gateway.model.channels import channel
from gateway.model.records import Conversation


async def window_state(core: Core, conv: Conversation, link: str) -> p.ChannelState:
    left = await core.windows.left(conv)
    closes_at, closes_in = left if left is not None else (0.0, 0.0)
    closed = left is not None and closes_in <= 0
    label = channel(conv.channel).label
    return p.ChannelState(
        window_closes_at=closes_at,
        window_closes_in=closes_in,
        locked="session_expired" if closed else "",
        notice=(
            f"The {label} session window has closed: you can write again when the contact"
            " does. Keep the conversation open, or end it."
            if closed
            else ""
        ),
        attachments=True,
        link=link,
    )
