"""Prometheus metrics: the metric objects (gateway/web/pages.py serves ``/metrics``).

Every metric lives in prometheus-client's default registry, next to its process and
platform collectors (``process_*``, ``python_*``). Each gateway is one process, so no
multiprocess mode is needed: scrape every node on its own port (not through the load
balancer, which would answer for a random node). docs/deploy.md describes each metric.

The hot path imports the objects below and updates them; nothing here does I/O.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ACK_LATENCY",
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

CONNECTIONS = Gauge(
    "gateway_connections",
    "Open WebSocket connections on this node, by kind (contact or agent).",
    ["kind"],
)
MESSAGES = Counter(
    "gateway_messages",  # exposed as gateway_messages_total
    "Messages committed by this node, by sender (contact, agent or system).",
    ["sender"],
)
MESSAGE_LATENCY = Histogram(
    "gateway_message_latency_seconds",
    "Seconds from a message's commit to its delivery to the other side's sockets, "
    "measured on the delivering node.",
    buckets=LATENCY_BUCKETS,
)
ACK_LATENCY = Histogram(
    "gateway_ack_latency_seconds",
    "Seconds from receiving a send frame to sending its ack.",
    buckets=LATENCY_BUCKETS,
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
BUS_RECONNECTS = Counter(
    "gateway_bus_reconnects",  # exposed as gateway_bus_reconnects_total
    "Times the bus lost its connection to Redis and reconnected.",
)
STORE_ERRORS = Counter(
    "gateway_store_errors",  # exposed as gateway_store_errors_total
    "Store operations that failed, by kind of error.",
    ["kind"],
)
DRAINING = Gauge(
    "gateway_draining",
    "1 while this node drains after SIGTERM, else 0.",
)

# Series for the known label values exist from the start (at 0), so that rate() and
# absent() work before the first event; store error kinds appear as they happen.
for _kind in ("contact", "agent"):
    CONNECTIONS.labels(kind=_kind)
for _sender in ("contact", "agent", "system"):
    MESSAGES.labels(sender=_sender)
