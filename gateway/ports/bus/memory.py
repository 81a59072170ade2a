"""The in-process bus: one node, delivery is a function call."""

from __future__ import annotations

from gateway import metrics
from gateway.ports.bus.base import Bus, Deliver


class InProcessBus(Bus):
    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._topics: set[str] = set()

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        metrics.BUS_CONNECTED.set(1)  # in process: never apart

    async def stop(self) -> None:
        self._deliver = None
        self._topics.clear()

    async def publish(self, topic: str, data: bytes) -> None:
        self.post(topic, data)

    def post(self, topic: str, data: bytes) -> None:
        if self._deliver is not None and topic in self._topics:
            self._deliver(topic, data)

    async def subscribe(self, topic: str) -> None:
        self._topics.add(topic)

    async def unsubscribe(self, topic: str) -> None:
        self._topics.discard(topic)
