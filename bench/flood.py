"""Flood isolation: does one flooding client move another client's latency?

Runs a real gateway twice, with the default limits and with the frame limit off
(``GATEWAY_FRAMES_PER_MINUTE=0``). In each, a *measurer* visitor sends messages one at a
time and times each ``send`` → ``ack`` round trip (a stored, committed message), first
alone (baseline), then while a *flooder* visitor from another address sends stored
messages as fast as its socket takes them, reconnecting whenever it is closed. The
addresses differ through ``X-Forwarded-For`` with ``GATEWAY_TRUSTED_PROXIES=127.0.0.1``,
as behind a load balancer, so the per-IP limits apply to each client separately.

    ./scripts/bench flood [--quick] [--json FILE]

The bound this measures is documented in docs/security.md#flood-isolation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import statistics
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devkit.services import start_gateway

MEASURER_IP = "198.51.100.10"
FLOODER_IP = "203.0.113.66"


@dataclass(frozen=True)
class Target:
    base_url: str
    ws_url: str


async def _visitor(node: Target, ip: str, token: str = "") -> tuple[ClientConnection, str]:
    headers = {"Origin": node.base_url, "X-Forwarded-For": ip}
    if not token:
        async with httpx.AsyncClient() as http:
            r = await http.post(
                node.base_url + "/widget/bootstrap",
                json={"touchpoint_id": "tp_demo_127", "page_url": node.base_url + "/demo"},
                headers=headers,
            )
            r.raise_for_status()
            token = r.json()["token"]
    ws = await connect(
        node.ws_url + "/ws/visitor",
        origin=node.base_url,  # type: ignore[arg-type]
        additional_headers={"X-Forwarded-For": ip},
        max_size=None,
    )
    await ws.send(json.dumps({"type": "hello", "v": 1, "token": token}))
    return ws, token


async def _until(ws: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await ws.recv())
        if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


async def _measurers(node: Target, count: int) -> list[ClientConnection]:
    """``count`` visitors with a conversation each: the measurer spreads its round trips
    over them so that it stays within the per-socket frame limit itself."""
    out = []
    for _ in range(count):
        ws, _ = await _visitor(node, MEASURER_IP)
        await _until(ws, "token")
        await ws.send(json.dumps({"type": "start", "fields": {"name": "Measurer"}}))
        await _until(ws, "started")
        out.append(ws)
    return out


async def _measure(sockets: list[ClientConnection], samples: int) -> list[float]:
    out = []
    for i in range(samples):
        ws = sockets[i % len(sockets)]
        cid = uuid.uuid4().hex
        started = time.perf_counter()
        await ws.send(json.dumps({"type": "send", "body": "ping", "client_msg_id": cid}))
        await _until(ws, "ack", client_msg_id=cid)
        out.append((time.perf_counter() - started) * 1000)
    return out


class Flooder:
    def __init__(self, node: Target) -> None:
        self.node = node
        self.sent = self.refused = self.closed_4029 = self.reconnects = 0
        self.stop = asyncio.Event()
        self.going = asyncio.Event()  # set once 100 frames are out

    async def run(self) -> None:
        token = ""
        while not self.stop.is_set():
            try:
                ws, token = await _visitor(self.node, FLOODER_IP, token)
            except (InvalidStatus, httpx.HTTPStatusError, OSError):
                await asyncio.sleep(0.05)
                continue
            self.reconnects += 1
            reader = asyncio.create_task(self._read(ws))
            try:
                await ws.send(json.dumps({"type": "start", "fields": {"name": "Flood"}}))
                while not self.stop.is_set():
                    frame = {"type": "send", "body": "x" * 200, "client_msg_id": uuid.uuid4().hex}
                    await ws.send(json.dumps(frame))
                    self.sent += 1
                    if self.sent == 100:
                        self.going.set()
                    if self.sent % 16 == 0:
                        await asyncio.sleep(0)  # let the reader drain
            except ConnectionClosed as exc:
                if exc.rcvd and exc.rcvd.code == 4029:
                    self.closed_4029 += 1
            finally:
                await ws.close()
                # The reader ends with the connection, after counting what arrived.
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    async with asyncio.timeout(5):
                        await reader

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                if '"rate_limited"' in str(raw):
                    self.refused += 1


def _flood_process(node: Target, stop: Any, counts: Any) -> None:
    async def main() -> None:
        flooder = Flooder(node)
        task = asyncio.create_task(flooder.run())
        async with asyncio.timeout(30):
            await flooder.going.wait()
        counts.put("flooding")
        await asyncio.to_thread(stop.wait)
        flooder.stop.set()
        async with asyncio.timeout(30):
            await task
        counts.put(
            {
                "sent": flooder.sent,
                "refused": flooder.refused,
                "closed_4029": flooder.closed_4029,
                "reconnects": flooder.reconnects,
            }
        )

    asyncio.run(main())


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _scenario(env: dict[str, str], samples: int, warm: int) -> dict[str, Any]:
    node = start_gateway(
        {
            "GATEWAY_DEMO": "1",
            "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",
            "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
            **env,
        }
    )
    try:
        # 200 frames a socket at most, under the default 240 a minute.
        sockets = await _measurers(
            Target(node.base_url, node.ws_url), 1 + (2 * samples + warm) // 200
        )
        await _measure(sockets, warm)
        baseline = await _measure(sockets, samples)
        # The flooder runs in a process of its own, so that its busy loop cannot delay
        # the measurer's own event loop and pass for the gateway's latency.
        ctx = multiprocessing.get_context("spawn")
        stop, counts = ctx.Event(), ctx.Queue()
        proc = ctx.Process(
            target=_flood_process, args=(Target(node.base_url, node.ws_url), stop, counts)
        )
        proc.start()
        started = counts.get(timeout=60)  # the flooder is connected and sending
        assert started == "flooding", started
        during = await _measure(sockets, samples)
        stop.set()
        flooder: dict[str, int] = counts.get(timeout=60)
        proc.join(30)
        for ws in sockets:
            await ws.close()
        assert node.alive(), "the gateway died under the flood"
    finally:
        node.stop()
    b99, d99 = _pct(baseline, 0.99), _pct(during, 0.99)
    return {
        "baseline_p50_ms": round(statistics.median(baseline), 3),
        "baseline_p99_ms": round(b99, 3),
        "flood_p50_ms": round(statistics.median(during), 3),
        "flood_p99_ms": round(d99, 3),
        "p99_ratio": round(d99 / b99, 2) if b99 else 0.0,
        "flood_frames_sent": flooder["sent"],
        "flood_frames_refused": flooder["refused"],
        "flood_closed_4029": flooder["closed_4029"],
        "flood_connections": flooder["reconnects"],
    }


def run(quick: bool) -> dict[str, Any]:
    samples, warm = (20, 5) if quick else (400, 50)
    return {
        "samples": samples,
        "limited": asyncio.run(_scenario({}, samples, warm)),
        "unlimited": asyncio.run(_scenario({"GATEWAY_FRAMES_PER_MINUTE": "0"}, samples, warm)),
    }


def summary(result: dict[str, Any]) -> str:
    lines = [f"flood isolation ({result['samples']} round trips per phase; send -> ack)"]
    for name in ("limited", "unlimited"):
        r = result[name]
        lines.append(
            f"  {name:9} baseline p50 {r['baseline_p50_ms']:7.2f} ms  p99 {r['baseline_p99_ms']:7.2f} ms"
            f" | flooded p50 {r['flood_p50_ms']:7.2f} ms  p99 {r['flood_p99_ms']:7.2f} ms"
            f" | p99 x{r['p99_ratio']:.2f}"
        )
        lines.append(
            f"            flooder: {r['flood_frames_sent']} frames sent, "
            f"{r['flood_frames_refused']} refused (rate_limited), {r['flood_closed_4029']} closed "
            f"4029, {r['flood_connections']} connections"
        )
    return "\n".join(lines)
