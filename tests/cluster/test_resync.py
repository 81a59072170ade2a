"""A follower's resynchronisation (gateway/services/router_shell.py ``resync``) while
the bus cannot be reached: asked again, not given up with the task. The link is a
stand-in here (the pure retry logic); the faults with a real Redis are in test_faults."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

import routing as r
from gateway.cluster.messages import SnapshotReply
from gateway.errors import BusUnavailable
from gateway.services import router_shell
from gateway.services.router_shell import RouterShell


class Link:
    """Answers snapshot requests with a leader's snapshot after ``down`` refusals."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.asked = 0

    async def request(self, make: Any, timeout: float, **_: Any) -> SnapshotReply:
        self.asked += 1
        if self.asked <= self.down:
            raise BusUnavailable("Redis cannot be reached")
        leader = r.Router(r.RouterConfig())
        leader.handle(r.TouchpointUpserted("tp", "chat", "simplified", ["q"]), 1.0)
        return SnapshotReply(req_id="x", fence=1, seq=1, data=r.export_snapshot(leader))


def follower(link: Link) -> RouterShell:
    directory = SimpleNamespace(settings=SimpleNamespace(channel_weights={}))
    shell = RouterShell(
        offer_timeout=30,
        reoffer_cooldown=5,
        store=cast(Any, None),
        directory=cast(Any, directory),
        presence=cast(Any, None),
        clock=lambda: 0.0,
    )
    shell.link = cast(Any, link)
    shell.leadership = cast(Any, SimpleNamespace(is_leader=False))
    return shell


async def test_a_resync_while_the_bus_is_down_asks_again_until_it_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(router_shell, "RESYNC_PAUSE", 0.01)
    link = Link(down=2)
    shell = follower(link)
    await shell.resync()  # raised BusUnavailable out of the task before
    assert link.asked == 3
    assert r.digest(shell.router) != r.digest(r.Router(r.RouterConfig()))  # the snapshot taken


async def test_a_bus_down_for_every_attempt_ends_the_resync_quietly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(router_shell, "RESYNC_PAUSE", 0.01)
    link = Link(down=100)
    shell = follower(link)
    await shell.resync()  # the next log entry or call asks again
    assert link.asked == router_shell.RESYNC_ATTEMPTS
