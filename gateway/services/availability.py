"""Can anyone answer now? The router's view (agents available in the queues a new
conversation would go to, the flow's opening hours) turned into what a channel tells a
contact before they write: the chat widget asks at bootstrap (docs/widget.md).

| status | when | the widget |
|---|---|---|
| ``online`` | an available agent of those queues has room now, or a bot answers first | the chat form |
| ``busy`` | agents are available, none has room now | the chat form, saying so, and "leave a message" |
| ``offline`` | nobody is available, or the flow holds conversations now | "leave a message" |
| ``closed`` | the flow's calendar says closed | "leave a message", with the next opening |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import msgspec

import routing as r

Status = Literal["online", "busy", "offline", "closed"]


class Availability(msgspec.Struct, frozen=True, omit_defaults=True):
    status: Status
    # when closed: the next opening (UNIX seconds), if within two weeks
    opens_at: float | None = None


class AvailabilityService:
    def __init__(self, router: Callable[[], r.Router], clock: Callable[[], float]) -> None:
        self._router = router
        self._clock = clock

    def now(self, touchpoint_id: str) -> Availability:
        """For a touchpoint the router knows; ``offline`` for one it does not (inactive
        or just created: nobody would be rung)."""
        try:
            a = self._router().availability(touchpoint_id, self._clock())
        except r.RoutingError:
            return Availability("offline")
        return Availability(status_of(a), a.opens_at)


def status_of(a: r.Availability) -> Status:
    if a.bot is not None:
        return "online"  # a bot answers first, whatever the agents' state or the hours
    if a.open is False:
        return "closed"
    if a.acceptance == "hold" or not a.agents_available:
        return "offline"
    return "online" if a.room else "busy"
