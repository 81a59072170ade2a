"""The /metrics endpoint speaks the Prometheus text format with every gateway metric."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import metrics
from gateway.errors import GatewayError, NotFound, StoreUnavailable
from gateway.services.deliveries import Deliveries
from gateway.web.errors import gateway_error_handler
from gateway.web.pages import metrics_endpoint

# (family name as the parser reports it, type, labels of the series that exist at start)
EXPECTED: dict[str, tuple[str, list[dict[str, str]]]] = {
    "gateway_connections": ("gauge", [{"kind": "contact"}, {"kind": "agent"}]),
    "gateway_messages": (
        "counter",
        [{"sender": "contact"}, {"sender": "agent"}, {"sender": "system"}],
    ),
    "gateway_message_latency_seconds": ("histogram", [{}]),
    "gateway_ack_latency_seconds": ("histogram", [{}]),
    "gateway_router_waiting": ("gauge", [{}]),
    "gateway_router_leader": ("gauge", [{}]),
    "gateway_bus_publish_latency_seconds": ("histogram", [{}]),
    "gateway_bus_connected": ("gauge", [{}]),
    "gateway_bus_reconnects": ("counter", [{}]),
    "gateway_store_errors": ("counter", []),
    "gateway_draining": ("gauge", [{}]),
}


async def scrape() -> httpx.Response:
    app = Starlette(routes=[Route("/metrics", metrics_endpoint)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        return await client.get("/metrics")


async def test_metrics_endpoint_exposes_every_gateway_metric() -> None:
    r = await scrape()
    assert r.status_code == 200
    assert r.headers["content-type"] == CONTENT_TYPE_LATEST
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    for name, (type_, label_sets) in EXPECTED.items():
        assert name in families, f"{name} missing from /metrics"
        family = families[name]
        assert family.type == type_, name
        assert family.documentation, f"{name} has no help text"
        labels = [s.labels for s in family.samples if not s.name.endswith(("_created",))]
        for wanted in label_sets:
            assert any(wanted.items() <= got.items() for got in labels), (name, wanted)
    # The process collector rides along: useful for memory and file descriptors.
    assert "process_resident_memory_bytes" in families or "python_info" in families


async def test_counter_and_histogram_samples_have_prometheus_names() -> None:
    metrics.MESSAGES.labels(sender="contact").inc()
    metrics.STORE_ERRORS.labels(kind="unavailable").inc()
    metrics.MESSAGE_LATENCY.observe(0.003)
    r = await scrape()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(r.text)
        for s in f.samples
    }
    assert samples[("gateway_messages_total", (("sender", "contact"),))] >= 1
    assert samples[("gateway_store_errors_total", (("kind", "unavailable"),))] >= 1
    assert ("gateway_bus_reconnects_total", ()) in samples
    # Buckets from 0.5 ms to 2 s, then +Inf.
    les = sorted(
        float(labels[0][1])
        for (name, labels) in samples
        if name == "gateway_message_latency_seconds_bucket"
    )
    assert les[0] == 0.0005
    assert les[-2:] == [2.0, float("inf")]
    assert samples[("gateway_message_latency_seconds_count", ())] >= 1
    assert samples[("gateway_message_latency_seconds_bucket", (("le", "0.005"),))] >= 1


async def _samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = await scrape()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(r.text)
        for s in f.samples
    }


async def test_per_message_metrics_are_exact_on_scrape() -> None:
    """The metrics updated per message are plain ints in the process, read into the
    exposition on scrape: the counts prometheus-client's own objects would give (a
    value on a bucket's bound counts in that bucket, ``le``)."""
    before = await _samples()
    metrics.MESSAGES.labels(sender="agent").inc()
    metrics.MESSAGES.labels(sender="agent").inc()
    for value in (0.0007, 0.001, 3.0):
        metrics.ACK_LATENCY.observe(value)
    after = await _samples()

    def added(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    assert added("gateway_messages_total", sender="agent") == 2
    assert added("gateway_messages_total", sender="contact") == 0
    ack = "gateway_ack_latency_seconds"
    assert added(f"{ack}_bucket", le="0.0005") == 0
    assert added(f"{ack}_bucket", le="0.001") == 2
    assert added(f"{ack}_bucket", le="2.0") == 2
    assert added(f"{ack}_bucket", le="+Inf") == 3
    assert added(f"{ack}_count") == 3
    assert abs(added(f"{ack}_sum") - 3.0017) < 1e-9
    assert ("gateway_messages_created", (("sender", "agent"),)) in after


def store_errors(kind: str) -> float:
    value = REGISTRY.get_sample_value("gateway_store_errors_total", {"kind": kind})
    return value or 0.0


async def test_a_store_error_answered_over_http_is_counted_once() -> None:
    """The store down: HTTP requests get 503 and the counter moves (it used to move
    only for WebSocket frames, so docs/deploy.md's alert never fired)."""

    async def down(request: Request) -> Response:
        raise StoreUnavailable("PostgreSQL unavailable")

    async def missing(request: Request) -> Response:
        raise NotFound("no such thing")

    app = Starlette(
        routes=[Route("/down", down), Route("/missing", missing)],
        exception_handlers={GatewayError: gateway_error_handler},
    )
    before = store_errors("store_unavailable")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        assert (await client.get("/down")).status_code == 503
        assert (await client.get("/down")).status_code == 503
        assert (await client.get("/missing")).status_code == 404
    assert store_errors("store_unavailable") == before + 2


async def test_a_store_error_met_by_a_background_worker_is_counted() -> None:
    class DownStore:
        calls = 0
        thrice = asyncio.Event()

        async def claim_deliveries(self, now: float, lease: float, batch: int) -> list[object]:
            self.calls += 1
            if self.calls == 3:
                self.thrice.set()
            raise StoreUnavailable("PostgreSQL unavailable")

    store = DownStore()
    worker = Deliveries(cast(Any, store), cast(Any, None), time.time, poll=0.01)
    before = store_errors("store_unavailable")
    await worker.start()
    try:
        await asyncio.wait_for(store.thrice.wait(), 30)
    finally:
        await worker.stop()
    assert store_errors("store_unavailable") == before + store.calls
