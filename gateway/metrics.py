"""Prometheus metrics: the metric objects (gateway/web/pages.py serves ``/metrics``).

Every metric lives in prometheus-client's default registry, next to its process and
platform collectors (``process_*``, ``python_*``). Each gateway is one process, so no
multiprocess mode is needed: scrape every node on its own port (not through the load
balancer, which would answer for a random node). docs/deploy.md describes each metric.

The hot path imports the objects below and updates them; nothing here does I/O. The
metrics updated once or more per message (``MESSAGES``, ``MESSAGE_LATENCY``,
``ACK_LATENCY``) are plain integers in this process (:class:`Tally`, :class:`Buckets`),
read into Prometheus families only when ``/metrics`` is scraped: a prometheus-client
update takes a lock (and a histogram walks its buckets) on every call, several
microseconds a message. They are updated on the event loop's thread only.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterable, Sequence

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gateway.errors import StoreError

__all__ = [
    "ACK_LATENCY",
    "BUS_CONNECTED",
    "BUS_PUBLISH_LATENCY",
    "BUS_RECONNECTS",
    "CONNECTIONS",
    "DRAINING",
    "LATENCY_BUCKETS",
    "MESSAGES",
    "MESSAGE_LATENCY",
    "PUBLISH_BUCKETS",
    "ROUTER_LEADER",
    "ROUTER_WAITING",
    "STORE_ERRORS",
]

# End-to-end and ack latencies: 0.5 ms to 2 s (slower than that lands in +Inf).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.0,
)
# One publish to Redis (or the in-process bus) is much faster: 0.1 ms to 1 s.
PUBLISH_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)


def _le(bound: float) -> str:
    """A bucket's bound as prometheus-client writes it (``+Inf``, ``0.005``, ``1.0``)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


class _Count:
    """One series of a :class:`Tally`: a plain int (``inc`` as prometheus-client's)."""

    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0
        self.created = time.time()

    def inc(self, amount: int = 1) -> None:
        self.value += amount


class Tally(Collector):
    """A counter with one label, as plain ints, exported as ``NAME_total`` on scrape."""

    def __init__(self, name: str, documentation: str, label: str, values: Iterable[str]) -> None:
        self._name, self._doc, self._label = name, documentation, label
        self._series: dict[str, _Count] = {v: _Count() for v in values}
        REGISTRY.register(self)

    def labels(self, **labels: str) -> _Count:
        (value,) = labels.values()
        series = self._series.get(value)
        if series is None:
            series = self._series[value] = _Count()
        return series

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self._name, self._doc, labels=[self._label])
        for value, series in list(self._series.items()):
            family.add_metric([value], series.value, created=series.created)
        yield family

    def describe(self) -> Iterable[Metric]:
        yield CounterMetricFamily(self._name, self._doc, labels=[self._label])


class Buckets(Collector):
    """A histogram without labels, as plain ints, exported on scrape (same buckets, same
    ``le`` rule: a value lands in the first bucket whose bound is >= it)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float]) -> None:
        self._name, self._doc = name, documentation
        self._bounds = tuple(buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last: +Inf
        self._sum = 0.0
        REGISTRY.register(self)

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def collect(self) -> Iterable[Metric]:
        cumulative, buckets = 0, []
        for bound, count in zip((*self._bounds, float("inf")), self._counts, strict=True):
            cumulative += count
            buckets.append((_le(bound), float(cumulative)))
        yield HistogramMetricFamily(self._name, self._doc, buckets=buckets, sum_value=self._sum)

    def describe(self) -> Iterable[Metric]:
        yield HistogramMetricFamily(self._name, self._doc)


CONNECTIONS = Gauge(
    "gateway_connections",
    "Open WebSocket connections on this node, by kind (contact or agent).",
    ["kind"],
)
# Series for the known label values exist from the start (at 0), so that rate() and
# absent() work before the first event.
MESSAGES = Tally(
    "gateway_messages",  # exposed as gateway_messages_total
    "Messages committed by this node, by sender (contact, agent or system).",
    "sender",
    ("contact", "agent", "system"),
)
MESSAGE_LATENCY = Buckets(
    "gateway_message_latency_seconds",
    "Seconds from a message's commit to its delivery to the other side's sockets, "
    "measured on the delivering node.",
    LATENCY_BUCKETS,
)
ACK_LATENCY = Buckets(
    "gateway_ack_latency_seconds",
    "Seconds from receiving a send frame to sending its ack.",
    LATENCY_BUCKETS,
)
ROUTER_WAITING = Gauge(
    "gateway_router_waiting",
    "Conversations waiting for an agent, as the router on this node sees them.",
)
ROUTER_LEADER = Gauge(
    "gateway_router_leader",
    "1 when this node holds the router lease, else 0.",
)
BUS_PUBLISH_LATENCY = Histogram(
    "gateway_bus_publish_latency_seconds",
    "Seconds one publish on the bus takes.",
    buckets=PUBLISH_BUCKETS,
)
BUS_CONNECTED = Gauge(
    "gateway_bus_connected",
    "1 while the bus is connected to Redis (the in-process bus always is), else 0.",
)
BUS_RECONNECTS = Counter(
    "gateway_bus_reconnects",  # exposed as gateway_bus_reconnects_total
    "Times the bus lost its connection to Redis and reconnected.",
)
STORE_ERRORS = Counter(
    "gateway_store_errors",  # exposed as gateway_store_errors_total
    "Store operations that failed, by kind of error.",
    ["kind"],
)


def count_store_error(exc: BaseException) -> None:
    """Count ``exc`` if the store failed. Called where a failure ends its way up (the
    HTTP error answer, a socket's error frame, a background worker's loop), so each
    failed operation is counted once."""
    if isinstance(exc, StoreError):
        STORE_ERRORS.labels(kind=exc.code).inc()


RECENT_MISSES = Counter(
    "gateway_recent_row_misses",  # exposed as gateway_recent_row_misses_total
    "Messages whose conversation this node held no recent row of, so that their write "
    "read it from the store first.",
)
HISTORY_PURGED = Counter(
    "gateway_history_purged_conversations",  # exposed as ..._total
    "Closed conversations this node deleted for being older than "
    "GATEWAY_HISTORY_RETENTION, with their messages and files.",
)
DRAINING = Gauge(
    "gateway_draining",
    "1 while this node drains after SIGTERM, else 0.",
)

# Store error kinds appear as they happen.
for _kind in ("contact", "agent"):
    CONNECTIONS.labels(kind=_kind)
