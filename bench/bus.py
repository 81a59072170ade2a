"""Bus workload: PUBLISH throughput and cost, one awaited at a time vs RedisBus batching.

Against a real redis-server (``--url``, or a throwaway one started from devkit/services.py),
from one process on one event loop, frames of 200 bytes:

* ``redis_py_awaited``: plain redis-py, ``await r.publish()`` one after the other: one
  round trip each (what a naive bus would do per frame).
* ``bus_awaited``: ``await RedisBus.publish()`` one after the other: the latency path,
  one frame per pipeline.
* ``bus_concurrent``: ``publishers`` tasks publishing at once (sockets fanning out): the
  writer batches what accumulates while a pipeline is in flight.
* ``bus_end_to_end``: the same, with a second RedisBus subscribed, until the last frame
  is delivered to it.
* ``bus_posted_end_to_end``: the same frames queued with ``RedisBus.post()`` (nothing
  awaited per frame: the notifier's way), until the last is delivered.

``cpu_us`` is this process's CPU time per frame (the gateway's cost; redis-server's is
not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import redis.asyncio as aioredis

from gateway.ports.bus.redis import RedisBus

PAYLOAD = b"x" * 200


def _figures(frames: int, wall: float, cpu: float) -> dict[str, float]:
    return {
        "frames": frames,
        "per_s": round(frames / wall),
        "cpu_us": round(cpu / frames * 1e6, 2),
    }


async def _timed(frames: int, body: Callable[[], Awaitable[None]]) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    await body()
    return _figures(frames, time.perf_counter() - wall, time.process_time() - cpu)


async def _measure(url: str, n: int, publishers: int) -> dict[str, Any]:
    out: dict[str, Any] = {"publishers": publishers}
    r = aioredis.from_url(url)
    bus = RedisBus(url)
    sub = RedisBus(url)
    try:
        await r.ping()

        async def plain() -> None:
            for _ in range(n):
                await r.publish("bench:plain", PAYLOAD)

        out["redis_py_awaited"] = await _timed(n, plain)

        await bus.publish("bench:warm", PAYLOAD)  # the connection, outside the timing
        latencies: list[float] = []

        async def awaited() -> None:
            for _ in range(n):
                t = time.perf_counter()
                await bus.publish("bench:awaited", PAYLOAD)
                latencies.append(time.perf_counter() - t)

        out["bus_awaited"] = await _timed(n, awaited)
        latencies.sort()
        out["bus_awaited"]["p50_us"] = round(statistics.median(latencies) * 1e6)
        out["bus_awaited"]["p99_us"] = round(latencies[int(len(latencies) * 0.99)] * 1e6)

        per_task = n // publishers

        async def one_publisher(topic: str) -> None:
            for _ in range(per_task):
                await bus.publish(topic, PAYLOAD)

        async def concurrent() -> None:
            await asyncio.gather(*(one_publisher(f"bench:c{i}") for i in range(publishers)))

        before = bus.stats()["batches"]
        out["bus_concurrent"] = await _timed(per_task * publishers, concurrent)
        out["bus_concurrent"]["frames_per_batch"] = round(
            per_task * publishers / (bus.stats()["batches"] - before), 1
        )

        done = asyncio.Event()
        total = per_task * publishers
        received = 0

        def deliver(topic: str, data: bytes) -> None:
            nonlocal received
            received += 1
            if received == total:
                done.set()

        await sub.start(deliver)
        for i in range(publishers):
            await sub.subscribe(f"bench:e{i}")

        async def end_to_end() -> None:
            await asyncio.gather(*(one_publisher(f"bench:e{i}") for i in range(publishers)))
            async with asyncio.timeout(60):
                await done.wait()

        out["bus_end_to_end"] = await _timed(total, end_to_end)

        # The hot path's way: post() queues and returns; nothing is awaited per frame.
        # The yield every 64 frames stands for the sockets' handlers taking turns.
        received, done = 0, asyncio.Event()

        async def posted_end_to_end() -> None:
            for k in range(total):
                bus.post(f"bench:e{k % publishers}", PAYLOAD)
                if k % 64 == 63:
                    await asyncio.sleep(0)
            async with asyncio.timeout(60):
                await done.wait()

        out["bus_posted_end_to_end"] = await _timed(total, posted_end_to_end)
    finally:
        await sub.stop()
        await bus.stop()
        await r.aclose()
    return out


@contextlib.contextmanager
def _redis_url(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from devkit import services  # a checkout's helper: a throwaway redis-server

    server = services.start_redis()
    try:
        yield server.url
    finally:
        server.stop()


def run(quick: bool, url: str | None = None, publishers: int = 64) -> dict[str, Any]:
    n = 2_000 if quick else 50_000
    with _redis_url(url) as resolved:
        return asyncio.run(_measure(resolved, n, publishers))


def summary(result: dict[str, Any]) -> str:
    lines = [f"bus publish, 200-byte frames, {result['publishers']} concurrent publishers:"]
    keys = ("redis_py_awaited", "bus_awaited", "bus_concurrent", "bus_end_to_end")
    for key in (*keys, "bus_posted_end_to_end"):
        fig = result[key]
        extra = ""
        if "p50_us" in fig:
            extra = f"  latency p50 {fig['p50_us']} µs p99 {fig['p99_us']} µs"
        if "frames_per_batch" in fig:
            extra = f"  {fig['frames_per_batch']} frames/batch"
        lines.append(f"  {key:21} {fig['per_s']:>9,} /s  {fig['cpu_us']:>7} µs CPU/frame{extra}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bus", description=__doc__)
    parser.add_argument("--url", help="Redis URL (default: start a throwaway redis-server)")
    parser.add_argument("--quick", action="store_true", help="a smoke run, not a measurement")
    parser.add_argument("--publishers", type=int, default=64)
    args = parser.parse_args(argv)
    print(summary(run(args.quick, args.url, args.publishers)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
