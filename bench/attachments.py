"""Attachments workload: ten 25 MB uploads at once, and the server's memory meanwhile.

One real gateway process (uvicorn, SQLite, demo data) per blob store: local files and
S3-compatible storage (moto's S3 server, the one the tests use; its own memory is not
the gateway's). Ten visitors each open a conversation, then all ten upload a file of
the same size at the same moment (``POST /widget/attachments``, streamed from the
client in 1 MiB chunks with a Content-Length); first files of 5 MiB, then twice of 25
MiB (the chat cap is set to 25 MiB for the run; the second round shows whether what
the first left resident is reused or keeps growing). A thread samples the server's VmRSS
every 20 ms from /proc before, during, and for a few seconds after the uploads.

What this shows: RSS grows by a bounded amount whatever the files' size (the uploads
stream: uvicorn's read buffer, one 64 KiB chunk at a time to the staging file and to
the blob store; on S3 up to two 5 MiB parts for each of the ``TRANSFERS`` uploads sent
at once), not by the 250 MiB of files. ``growth_peak_bytes`` is the peak during the
uploads minus the median before; the goals compare it with a bound per store
(``BOUNDS``), between the file sizes (flat: 25 MiB files cost no more than 5 MiB ones,
within ``FLAT_SLACK``) and between the last two rounds (what stays after does not grow).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Origin

from bench.gateway_setup import machine
from bench.loadgen import rss_bytes
from devkit import services
from gateway.ports.blobs.s3 import PART, TRANSFERS

MIB = 1024 * 1024
FULL: dict[str, Any] = {
    "files": 10,
    "sizes_mib": [5, 25, 25],
    "warmup_mib": 6,
    "stores": ["local", "s3"],
    "sample_s": 0.02,
    "after_s": 3.0,
}
QUICK: dict[str, Any] = {
    "files": 3,
    "sizes_mib": [1, 2],
    "warmup_mib": 1,
    "stores": ["local", "s3"],
    "sample_s": 0.02,
    "after_s": 0.3,
}
# The most the server's RSS may grow while the files stream in: a fixed allowance for
# the allocator and the event loop's buffers, and for S3 two parts (the chunks of the
# next one, the one being sent) for each upload sent at once.
ALLOWANCE = 48 * MIB
BOUNDS = {"local": ALLOWANCE, "s3": ALLOWANCE + TRANSFERS * 2 * PART}
# "Flat": the largest files may cost at most this much more than the smallest.
FLAT_SLACK = 16 * MIB
# The gateway's abuse limits are per client address; all of the load comes from one.
LIMITS_OFF = {
    "GATEWAY_FRAMES_PER_MINUTE": "0",
    "GATEWAY_CONNECTIONS_PER_IP_PER_HOUR": "0",
    "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "0",
    "GATEWAY_CONVERSATIONS_PER_TOUCHPOINT_PER_HOUR": "0",
}


def _block() -> bytes:
    """1 MiB of noise that is nothing but a PDF's middle (no ZIP or PDF marker in it)."""
    data = bytearray(random.Random(7).randbytes(MIB))
    for marker in (b"PK\x05\x06", b"PK\x03\x04", b"%PDF", b"<"):
        while (i := data.find(marker)) >= 0:
            data[i] = 0x20
    return bytes(data)


BLOCK = _block()
HEAD = b"%PDF-1.4\n1 0 obj<<>>endobj\n"
TAIL = b"\ntrailer<<>>\n%%EOF\n"


def pdf_size(mib: int) -> int:
    return mib * MIB


async def pdf_chunks(size: int) -> AsyncIterator[bytes]:
    """A PDF of exactly ``size`` bytes, 1 MiB at a time (the same block again and
    again: the client holds one)."""
    left = size - len(HEAD) - len(TAIL)
    yield HEAD
    while left > 0:
        n = min(left, MIB)
        yield BLOCK[:n]
        left -= n
    yield TAIL


class Sampler:
    """VmRSS of a process every ``period`` seconds, on a thread."""

    def __init__(self, pid: int, period: float) -> None:
        self.pid = pid
        self.period = period
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), rss_bytes(self.pid)))
            self._stop.wait(self.period)

    def between(self, start: float, end: float) -> list[int]:
        return [rss for t, rss in self.samples if start <= t <= end]


class Visitor:
    def __init__(self, base: str, port: int) -> None:
        self.base = base
        self.origin = f"http://127.0.0.1:{port}"
        self.page = f"{self.origin}/demo"
        self.token = ""
        self.conversation_id = ""

    async def open(self, http: httpx.AsyncClient, ws_base: str) -> Any:
        r = await http.post(
            self.base + "/widget/bootstrap",
            json={"touchpoint_id": "tp_demo_127", "page_url": self.page},
            headers={"Origin": self.origin},
        )
        r.raise_for_status()
        self.token = r.json()["token"]
        sock = await connect(ws_base + "/ws/visitor", origin=Origin(self.origin))
        await sock.send(json.dumps({"type": "hello", "v": 1, "token": self.token}))
        await sock.send(
            json.dumps({"type": "start", "fields": {"name": "Bench", "email": "b@example.com"}})
        )
        while not self.conversation_id:
            frame = json.loads(await sock.recv())
            if frame["type"] == "token":
                self.token = frame["token"]
            elif frame["type"] == "started":
                self.conversation_id = frame["conversation_id"]
            elif frame["type"] == "error":
                raise RuntimeError(f"start refused: {frame}")
        return sock

    async def upload(self, http: httpx.AsyncClient, size: int) -> tuple[int, str]:
        r = await http.post(
            self.base + "/widget/attachments",
            params={"name": f"bench-{uuid.uuid4().hex[:6]}.pdf"},
            content=pdf_chunks(size),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Origin": self.origin,
                "Content-Length": str(size),
            },
        )
        return r.status_code, r.text[:300]


async def _session(node: services.GatewayProcess, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    pid = node.proc.pid
    out: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=600) as http:
        visitors = [Visitor(node.base_url, node.port) for _ in range(cfg["files"])]
        socks = [await v.open(http, node.ws_url) for v in visitors]
        try:
            # Warm-up, one upload from each visitor (of more than one S3 part): the first
            # uploads' lazy imports, connections and buffers are not what is measured.
            warm = await asyncio.gather(
                *(v.upload(http, cfg["warmup_mib"] * MIB) for v in visitors)
            )
            if any(status != 201 for status, _ in warm):
                raise RuntimeError(f"warm-up upload refused: {warm}")
            for mib in cfg["sizes_mib"]:
                size = pdf_size(mib)
                await asyncio.sleep(0.5)
                with Sampler(pid, cfg["sample_s"]) as sampler:
                    await asyncio.sleep(0.5)
                    t0 = time.monotonic()
                    results = await asyncio.gather(*(v.upload(http, size) for v in visitors))
                    t1 = time.monotonic()
                    await asyncio.sleep(cfg["after_s"])
                    t2 = time.monotonic()
                before = statistics.median(sampler.between(t0 - 0.5, t0) or [rss_bytes(pid)])
                during = sampler.between(t0, t1) or [before]
                after = statistics.median(sampler.between(t1 + cfg["after_s"] / 2, t2) or during)
                start = sampler.samples[0][0]
                out.append(
                    {
                        "file_bytes": size,
                        "files": len(visitors),
                        "stored": sum(1 for s, _ in results if s == 201),
                        "refusals": [text for s, text in results if s != 201][:3],
                        "upload_s": round(t1 - t0, 2),
                        "mib_per_s": round(size * len(visitors) / MIB / (t1 - t0), 1),
                        "rss_before_bytes": int(before),
                        "rss_peak_bytes": max(during),
                        "rss_after_bytes": int(after),
                        "growth_peak_bytes": int(max(during) - before),
                        "growth_after_bytes": int(after - before),
                        "samples": len(sampler.samples),
                        # (seconds from the first sample, MiB), thinned to about 300 points
                        "curve": [
                            [round(t - start, 3), round(rss / MIB, 1)]
                            for t, rss in sampler.samples[:: max(1, len(sampler.samples) // 300)]
                        ],
                        "uploads_from_s": round(t0 - start, 3),
                        "uploads_to_s": round(t1 - start, 3),
                    }
                )
        finally:
            for sock in socks:
                await sock.close()
    return out


def measure_store(store: str, cfg: dict[str, Any], log: Any = print) -> dict[str, Any]:
    env = {
        "GATEWAY_DEMO": "1",
        "GATEWAY_CHAT_ATTACHMENT_MAX_BYTES": str(max(cfg["sizes_mib"]) * MIB),
        **LIMITS_OFF,
    }
    s3: services.S3Server | None = None
    if store == "s3":
        s3 = services.start_s3()
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(bucket)
        env["GATEWAY_BLOB_URL"] = s3.url(bucket, "files")
    node = services.start_gateway(env)
    try:
        steps = asyncio.run(_session(node, cfg))
        for s in steps:
            log(
                f"  {store}: {s['files']} x {s['file_bytes'] / MIB:g} MiB in {s['upload_s']} s, "
                f"RSS {s['rss_before_bytes'] / MIB:.1f} -> peak {s['rss_peak_bytes'] / MIB:.1f}"
                f" -> after {s['rss_after_bytes'] / MIB:.1f} MiB"
            )
        return {"steps": steps, "alive": node.alive()}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "log": node.output()[-2000:]}
    finally:
        node.stop()
        shutil.rmtree(node.env["GATEWAY_DATA_DIR"], ignore_errors=True)
        if s3 is not None:
            s3.stop()


def goals(stores: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, r in stores.items():
        steps = r.get("steps") or []
        if not steps:
            out[name] = {"met": False, "why": r.get("error", "no steps")}
            continue
        largest, smallest = steps[-1], steps[0]
        bound = BOUNDS[name]
        all_stored = all(s["stored"] == s["files"] for s in steps)
        worst = max(s["growth_peak_bytes"] for s in steps)
        flat = largest["growth_peak_bytes"] - smallest["growth_peak_bytes"] <= FLAT_SLACK
        # what stays resident after a round, against the round before (a leak would grow)
        kept = steps[-1]["rss_after_bytes"] - steps[-2]["rss_after_bytes"] if len(steps) > 1 else 0
        out[name] = {
            "bound_bytes": bound,
            "growth_peak_bytes": worst,
            "within_bound": worst <= bound,
            "flat_across_sizes": flat,
            "after_growth_last_round_bytes": kept,
            "all_stored": all_stored,
            "met": all_stored and flat and worst <= bound and kept <= FLAT_SLACK,
        }
    return out


def run(quick: bool) -> dict[str, Any]:
    cfg = QUICK if quick else FULL
    stores = {name: measure_store(name, cfg) for name in cfg["stores"]}
    return {"config": cfg, "machine": machine(), "stores": stores, "goals": goals(stores)}


def summary(result: dict[str, Any]) -> str:
    lines = []
    for name, r in result["stores"].items():
        if "error" in r:
            lines.append(f"{name}: FAILED {r['error']}")
            continue
        for s in r["steps"]:
            lines.append(
                f"{name}: {s['stored']}/{s['files']} files of {s['file_bytes'] / MIB:g} MiB at once "
                f"in {s['upload_s']} s ({s['mib_per_s']} MiB/s); server RSS "
                f"{s['rss_before_bytes'] / MIB:.1f} MiB before, peak "
                f"{s['rss_peak_bytes'] / MIB:.1f} (+{s['growth_peak_bytes'] / MIB:.1f}), "
                f"after {s['rss_after_bytes'] / MIB:.1f}"
            )
        g = result["goals"][name]
        lines.append(
            f"{name}: growth {g['growth_peak_bytes'] / MIB:.1f} MiB, bound "
            f"{g['bound_bytes'] / MIB:.0f} MiB, flat across sizes {g['flat_across_sizes']}: "
            f"{'met' if g['met'] else 'NOT met'}"
        )
    return "\n".join(lines)
