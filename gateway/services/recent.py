"""The conversations this node wrote to lately, as each append left them: what the
next message in them is checked and written on, instead of a read of the store.

A row kept here may be out of date (another node, or a router decision, changed the
conversation since). That is safe because it is only ever used with a guarded append
(``Store.append(expect=...)``): the message is stored only if the fields the message's
path decided on (state, owner, bot, queues) are still as here, atomically; otherwise
the store answers ``Stale`` and the caller reads the conversation and decides again.
Never use a row from here for anything else (who is told of typing, a read marker...).

A conversation still ``new`` is not kept: its routing is about to change it (the router
commits its decision right after the first message), so the next message would be
written on a row known to be out of date -- for a contact's message, through the
one-at-a-time path that announces to a bot (a transaction) whose guard then fails, then
read and written again. Reading it when the next message comes is cheaper.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec

from gateway import metrics
from gateway.errors import Conflict, Forbidden, NotFound
from gateway.model.records import Conversation
from gateway.ports.store.base import Stale

T = TypeVar("T")

_ROW = msgspec.msgpack.Decoder(Conversation)


def encode_row(conv: Conversation) -> bytes:
    """A row for another node's :meth:`RecentConversations.heard`."""
    return msgspec.msgpack.encode(conv)


class RecentConversations:
    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._rows: OrderedDict[str, Conversation] = OrderedDict()

    def get(self, conversation_id: str) -> Conversation | None:
        conv = self._rows.get(conversation_id)
        if conv is None:
            metrics.RECENT_MISSES.inc()
        else:
            self._rows.move_to_end(conversation_id)
        return conv

    def put(self, conv: Conversation) -> None:
        if conv.state == "new":
            self._rows.pop(conv.id, None)
            return
        self._rows[conv.id] = conv
        self._rows.move_to_end(conv.id)
        if len(self._rows) > self._size:
            self._rows.popitem(last=False)

    def drop(self, conversation_id: str) -> None:
        self._rows.pop(conversation_id, None)

    def heard(self, data: bytes) -> None:
        """A row another node sent (:func:`encode_row`): the router's leader sends the
        owner's node the conversation as an assignment left it, so that the owner's first
        reply is written on it instead of on a read. Undecodable data is dropped."""
        try:
            conv = _ROW.decode(data)
        except msgspec.DecodeError:
            return
        self.put(conv)


async def write_on_recent(
    read: Callable[[bool], Awaitable[Conversation]],
    write: Callable[[Conversation], Awaitable[T]],
    *,
    attempts: int = 3,
) -> T:
    """``write`` (a guarded append and what goes with it) on the conversation ``read``
    gives: first as this node last knew it (``read(True)``), then, if that was out of
    date, as the store has it now (``read(False)``). Refusals decided on a row kept here
    (ended, not yours, not found) are decided again on a fresh one; a conversation that
    keeps changing under fresh reads ends in ``Stale`` after ``attempts``."""
    try:
        return await write(await read(True))
    except (Conflict, Forbidden, NotFound):  # Stale is a Conflict
        pass
    for _ in range(attempts - 2):
        try:
            return await write(await read(False))
        except Stale:
            continue
    return await write(await read(False))
