"""Every open visitor socket gets a fresh token every third of a token's life: a few
sockets to a turn of the event loop (signing a token costs about 60 µs, and renewing
19,000 sockets in one turn held every socket of the node for over a second)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import cast

import pytest

from channels.base import Core
from channels.chat import visitor_socket
from channels.chat.visitor_socket import VisitorSockets
from gateway.web.hub import Connection


async def test_renewals_let_the_loop_turn_every_few_sockets_and_skip_closed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(visitor_socket, "RENEWALS_PER_TURN", 3)
    sockets = VisitorSockets(cast(Core, None))  # renew_all reads nothing of the core
    conns = [cast(Connection, object()) for _ in range(8)]
    events: list[str] = []

    def renewal(i: int) -> Callable[[], Awaitable[None]]:
        async def renew() -> None:
            events.append(f"renew {i}")
            if i == 1:
                del sockets.renewals[conns[5]]  # socket 5 closes meanwhile
            if i == 4:
                raise RuntimeError("a failed renewal is logged; the others go on")

        return renew

    for i, conn in enumerate(conns):
        sockets.renewals[conn] = renewal(i)

    async def other_sockets() -> None:
        while True:
            events.append("turn")
            await asyncio.sleep(0)

    task = asyncio.create_task(other_sockets())
    await asyncio.sleep(0)
    events.clear()
    try:
        await sockets.renew_all()
    finally:
        task.cancel()
    assert events == [
        "renew 0", "renew 1", "renew 2", "turn", "renew 3", "renew 4", "turn", "renew 6",
        "renew 7",
    ]  # fmt: skip
