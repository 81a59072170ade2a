"""Abuse beside a conversation: do attacks on the gateway move an honest client?

One real gateway with its **default limits** (docs/security.md). A *measurer* visitor
times ``send`` → ``ack`` round trips (a committed message) alone, then while three
attacks run together in a process of their own (so their busy loops cannot pass for
the gateway's latency):

* **login flood** — wrong-password logins for ever-new emails from 64 addresses at
  once, so that neither the per-address nor the per-account limit stops them all: every
  admitted attempt costs an Argon2 check;
* **non-reading clients** — a visitor fills its conversation with long messages, then
  three sockets each ask for its history again and again and never read;
* **slowloris** — from one address, HTTP requests and WebSocket handshakes that
  trickle in a byte a second, reopened as soon as they are closed.

Each client has an address of its own on the loopback network (``127.0.0.x`` as the
source address), so the per-address limits apply to each as they would on the Internet.
The server's resident memory (VmRSS) is sampled throughout.

    ./scripts/bench abuse [--quick] [--json FILE]

The bounds are ``BOUNDS`` below; the result says for each whether it was met
(docs/security.md and docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import queue
import ssl
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.gateway_setup import machine
from bench.loadgen import rss_bytes
from devkit.services import start_gateway
from gateway.settings import MAX_MESSAGE_CHARS, Settings

MEASURER_IP = "127.0.0.2"
NON_READER_IP = "127.0.0.3"
SLOWLORIS_IP = "127.0.0.4"
PROBE_IP = "127.0.0.5"
LOGIN_IPS = [f"127.0.1.{i}" for i in range(1, 65)]

# What the gateway is held to under these attacks, on the 2-core machine of
# docs/benchmarks.md with the attackers and the measurer on it too. Before the fixes of
# issue 11, eight parallel logins alone moved the p50 to 4,183 ms and three non-reading
# sockets grew the RSS by 567 MB.
BOUNDS = {
    "p99_ms_under_attack": 250.0,
    "rss_growth_mb": 100.0,
}

FULL = {
    "baseline_samples": 200,
    "attack_s": 60.0,
    "after_s": 30.0,
    "login_workers": 48,
    "non_readers": 3,
    "history_requests": 200,
    "slow_connections": 300,
    "env": {},
}
# Seconds, not minutes: the server's timeouts are shortened so each defence acts.
QUICK = {
    "baseline_samples": 20,
    "attack_s": 6.0,
    "after_s": 2.0,
    "login_workers": 4,
    "non_readers": 1,
    "history_requests": 30,
    "slow_connections": 20,
    "env": {"GATEWAY_REQUEST_TIMEOUT": "2", "GATEWAY_WRITE_TIMEOUT": "2"},
}
SEND_GAP_S = 0.05  # the measurer's pause between round trips: a brisk typist, not a flood
PER_SOCKET = 200  # round trips per measurer socket, under the 240 frames a minute


@dataclass(frozen=True)
class Target:
    base_url: str
    ws_url: str
    port: int


def _gateway_env(extra: dict[str, str]) -> dict[str, str]:
    """The defaults of Settings for every limit the test helper relaxes."""
    d = Settings()
    return {
        "GATEWAY_DEMO": "1",
        "GATEWAY_LOGINS_PER_IP_PER_MINUTE": str(d.logins_per_ip_per_minute),
        "GATEWAY_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR": str(d.login_failures_per_account_per_hour),
        "GATEWAY_MAX_CONNECTIONS_PER_IP": str(d.max_connections_per_ip),
        **extra,
    }


# -- a visitor from a given address ---------------------------------------------------

_TLS = ssl.create_default_context()  # unused on http://, but httpx builds one per client


def _http(ip: str, timeout: float = 60) -> httpx.AsyncClient:
    """An HTTP client whose connections leave from this loopback address."""
    transport = httpx.AsyncHTTPTransport(local_address=ip, verify=_TLS)
    return httpx.AsyncClient(transport=transport, timeout=timeout)


async def _bootstrap(node: Target, ip: str) -> str:
    async with _http(ip) as http:
        r = await http.post(
            node.base_url + "/widget/bootstrap",
            json={"touchpoint_id": "tp_demo_127", "page_url": node.base_url + "/demo"},
            headers={"Origin": node.base_url},
        )
        r.raise_for_status()
        return str(r.json()["token"])


async def _socket(node: Target, ip: str, token: str, **kw: Any) -> ClientConnection:
    ws = await connect(
        node.ws_url + "/ws/visitor",
        origin=node.base_url,  # type: ignore[arg-type]
        local_addr=(ip, 0),
        max_size=None,
        open_timeout=60,
        **kw,
    )
    await ws.send(json.dumps({"type": "hello", "v": 1, "token": token}))
    return ws


async def _until(ws: ClientConnection, kind: str, **match: Any) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await ws.recv())
        if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


async def _conversation(node: Target, ip: str, name: str) -> tuple[ClientConnection, str]:
    token = await _bootstrap(node, ip)
    ws = await _socket(node, ip, token)
    await _until(ws, "token")
    await ws.send(json.dumps({"type": "start", "fields": {"name": name}}))
    await _until(ws, "started")
    return ws, token


# -- the measurer ----------------------------------------------------------------------


class Measurer:
    """Round trips in one conversation, a fresh socket (same visitor) every PER_SOCKET
    round trips so that it stays under the per-socket frame limit itself."""

    def __init__(self, node: Target) -> None:
        self.node = node
        self.ws: ClientConnection | None = None
        self.token = ""
        self.on_socket = 0

    async def open(self) -> None:
        self.ws, self.token = await _conversation(self.node, MEASURER_IP, "Measurer")

    async def _fresh(self) -> ClientConnection:
        if self.ws is None or self.on_socket >= PER_SOCKET:
            if self.ws is not None:
                await self.ws.close()
            self.ws = await _socket(self.node, MEASURER_IP, self.token)
            await _until(self.ws, "token")
            self.on_socket = 0
        self.on_socket += 1
        return self.ws

    async def round_trip(self) -> float:
        ws = await self._fresh()
        cid = uuid.uuid4().hex
        started = time.perf_counter()
        await ws.send(json.dumps({"type": "send", "body": "ping", "client_msg_id": cid}))
        await _until(ws, "ack", client_msg_id=cid)
        return (time.perf_counter() - started) * 1000

    async def samples(self, count: int) -> list[float]:
        out = []
        for _ in range(count):
            out.append(await self.round_trip())
            await asyncio.sleep(SEND_GAP_S)
        return out

    async def for_duration(self, seconds: float) -> list[float]:
        out: list[float] = []
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            out.append(await self.round_trip())
            await asyncio.sleep(SEND_GAP_S)
        return out


class ServerSampler:
    """The server's peak resident memory and open descriptors, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.fds_peak = 0
        self._task: asyncio.Task[None] | None = None

    def now_mb(self) -> float:
        return rss_bytes(self.pid) / 2**20

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, rss_bytes(self.pid))
                self.fds_peak = max(self.fds_peak, self.fds())
            await asyncio.sleep(0.2)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Bystander:
    """``/healthz`` every half second from an address of its own: does everyone else
    still get answers?"""

    def __init__(self, node: Target) -> None:
        self.node = node
        self.stop = asyncio.Event()
        self.figures = {"ok": 0, "failed": 0, "max_ms": 0.0}

    async def run(self) -> None:
        async with _http(PROBE_IP, timeout=30) as http:
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    ok = (await http.get(self.node.base_url + "/healthz")).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.figures["ok" if ok else "failed"] += 1
                ms = (time.perf_counter() - started) * 1000
                self.figures["max_ms"] = round(max(self.figures["max_ms"], ms), 1)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await self.stop.wait()


# -- the attackers ---------------------------------------------------------------------


class Attacks:
    def __init__(self, node: Target, cfg: dict[str, Any]) -> None:
        self.node = node
        self.cfg = cfg
        self.stop = asyncio.Event()
        self.logins: dict[str, int] = {}
        self.non_reader: dict[str, Any] = {"sockets": 0, "closed": {}, "history_requests": 0}
        self.slow = {"opened": 0, "408": 0, "dropped": 0}

    # login flood
    async def _login_worker(self, n: int) -> None:
        clients = {ip: _http(ip) for ip in LOGIN_IPS[n :: self.cfg["login_workers"]]}
        try:
            i = 0
            while not self.stop.is_set():
                ip = list(clients)[i % len(clients)]
                i += 1
                try:
                    r = await clients[ip].post(
                        self.node.base_url + "/api/login",
                        json={"email": f"{uuid.uuid4().hex[:12]}@x.test", "password": "guess"},
                    )
                    key = str(r.status_code)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                self.logins[key] = self.logins.get(key, 0) + 1
        finally:
            for c in clients.values():
                await c.aclose()

    # non-reading clients
    async def _fill(self) -> str:
        ws, token = await _conversation(self.node, NON_READER_IP, "Non-reader")
        for i in range(50):  # one full history page of the longest messages
            cid = f"long-{i}"
            body = "é" * MAX_MESSAGE_CHARS
            frame = {"type": "send", "body": body, "client_msg_id": cid}
            await ws.send(json.dumps(frame, ensure_ascii=False))  # 8 KB, under the frame limit
            await _until(ws, "ack", client_msg_id=cid)
        await ws.close()
        return token

    async def _non_reader(self, token: str) -> None:
        ws = await _socket(self.node, NON_READER_IP, token, max_queue=1)
        self.non_reader["sockets"] += 1
        with contextlib.suppress(ConnectionClosed):
            for _ in range(self.cfg["history_requests"]):
                await ws.send('{"type":"history","limit":50}')
                self.non_reader["history_requests"] += 1
        await self.stop.wait()  # never read while the attack lasts
        # Then read what reached us: far fewer answers than were asked for, and how the
        # server ended it (1006: aborted by the write timeout; 4008: slow consumer).
        received = 0
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            while True:
                async with asyncio.timeout(10):
                    await ws.recv()
                received += 1
        self.non_reader["answers_received"] = self.non_reader.get("answers_received", 0) + received
        code = str(ws.close_code) if ws.close_code is not None else "still open"
        closed: dict[str, int] = self.non_reader["closed"]
        closed[code] = closed.get(code, 0) + 1
        ws.transport.abort()

    # slowloris
    async def _slow_one(self, handshake: bool) -> None:
        head = (
            b"GET /ws/visitor HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            if handshake
            else b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        )
        while not self.stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", self.node.port, local_addr=(SLOWLORIS_IP, 0)
                )
            except OSError:
                await asyncio.sleep(0.1)
                continue
            self.slow["opened"] += 1
            answer = asyncio.create_task(reader.read(64))
            try:
                for i in range(10_000):
                    if self.stop.is_set() or answer.done():
                        break
                    writer.write(head if i == 0 else b"X-%d: 1\r\n" % i)
                    await writer.drain()
                    await asyncio.wait({answer}, timeout=1.0)
            except OSError:
                pass
            finally:
                data = b""
                if answer.done() and not answer.cancelled() and answer.exception() is None:
                    data = answer.result()
                answer.cancel()
                if data.startswith(b"HTTP/1.1 408"):
                    self.slow["408"] += 1
                elif answer.done():
                    self.slow["dropped"] += 1  # closed at once: over the per-address cap
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
            if not self.stop.is_set() and not data:
                # Turned away: try again a second later (holding connections is the
                # point of a slowloris, not opening them as fast as possible).
                await asyncio.sleep(1.0)

    async def run(self, started: Any) -> None:
        token = await self._fill()
        tasks = [
            *(asyncio.create_task(self._login_worker(n)) for n in range(self.cfg["login_workers"])),
            *(asyncio.create_task(self._non_reader(token)) for _ in range(self.cfg["non_readers"])),
            *(
                asyncio.create_task(self._slow_one(handshake=i % 2 == 1))
                for i in range(self.cfg["slow_connections"])
            ),
        ]
        started()
        await self.stop.wait()
        done, pending = await asyncio.wait(tasks, timeout=60)
        for t in pending:
            t.cancel()
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]

    def figures(self) -> dict[str, Any]:
        return {
            "logins": dict(sorted(self.logins.items())),
            "non_reader": self.non_reader,
            "slowloris": self.slow,
        }


def _attack_process(node: Target, cfg: dict[str, Any], stop: Any, out: Any) -> None:
    async def main() -> None:
        attacks = Attacks(node, cfg)
        task = asyncio.create_task(attacks.run(lambda: out.put("attacking")))
        stopped = asyncio.ensure_future(asyncio.to_thread(stop.wait))
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        attacks.stop.set()
        try:
            await task
        except Exception as exc:  # told at once; the parent then sets stop
            out.put({"error": f"{type(exc).__name__}: {exc}"})
            raise
        out.put(attacks.figures())

    asyncio.run(main())


# -- the run ---------------------------------------------------------------------------


def _next(out: Any, proc: multiprocessing.process.BaseProcess, timeout: float) -> Any:
    """The attackers' next report; an error as soon as their process is gone."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        with contextlib.suppress(queue.Empty):
            return out.get(True, 1.0)
        if not proc.is_alive():
            return {"error": f"the attackers' process exited with {proc.exitcode}"}
    return {"error": f"no word from the attackers in {timeout:g} s"}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 3)


async def _scenario(cfg: dict[str, Any]) -> dict[str, Any]:
    node = start_gateway(_gateway_env(cfg["env"]))
    target = Target(node.base_url, node.ws_url, node.port)
    ctx = multiprocessing.get_context("spawn")
    stop, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_attack_process, args=(target, cfg, stop, out), daemon=True)
    try:
        measurer = Measurer(target)
        await measurer.open()
        await measurer.samples(10)  # warm-up
        baseline = await measurer.samples(cfg["baseline_samples"])
        rss = ServerSampler(node.proc.pid)
        rss_before = rss.now_mb()
        fds_before = rss.fds()
        proc.start()
        first = await asyncio.to_thread(_next, out, proc, 300)
        if first != "attacking":
            raise RuntimeError(f"the attackers did not start: {first}")
        rss.start()
        bystander = Bystander(target)
        probing = asyncio.create_task(bystander.run())
        during = await measurer.for_duration(cfg["attack_s"])
        rss_end_of_attack = rss.now_mb()
        bystander.stop.set()
        await probing
        stop.set()
        attacks: dict[str, Any] = await asyncio.to_thread(_next, out, proc, 120)
        await asyncio.to_thread(proc.join, 30)
        if "error" in attacks:
            raise RuntimeError(f"the attackers failed: {attacks['error']}")
        await asyncio.sleep(cfg["after_s"])
        after = await measurer.samples(cfg["baseline_samples"] // 4)
        await rss.stop()
        rss_after = rss.now_mb()
        alive = node.alive()
    finally:
        stop.set()
        if proc.is_alive():
            proc.join(30)
            proc.kill()
        node.stop()
    p99 = _pct(during, 0.99)
    growth = rss.peak / 2**20 - rss_before
    return {
        "baseline_p50_ms": _pct(baseline, 0.5),
        "baseline_p99_ms": _pct(baseline, 0.99),
        "attack_p50_ms": _pct(during, 0.5),
        "attack_p99_ms": p99,
        "attack_max_ms": _pct(during, 1.0),
        "attack_round_trips": len(during),
        "after_p50_ms": _pct(after, 0.5),
        "rss_before_mb": round(rss_before, 1),
        "rss_peak_mb": round(rss.peak / 2**20, 1),
        "rss_end_of_attack_mb": round(rss_end_of_attack, 1),
        "rss_after_mb": round(rss_after, 1),
        "rss_growth_mb": round(growth, 1),
        "fds_before": fds_before,
        "fds_peak": rss.fds_peak,
        "gateway_alive": alive,
        "attacks": attacks,
        "bystander_healthz": bystander.figures,
        "bounds": {
            "p99_ms_under_attack": {
                "bound": BOUNDS["p99_ms_under_attack"],
                "measured": p99,
                "met": p99 is not None and p99 < BOUNDS["p99_ms_under_attack"],
            },
            "rss_growth_mb": {
                "bound": BOUNDS["rss_growth_mb"],
                "measured": round(growth, 1),
                "met": growth < BOUNDS["rss_growth_mb"],
            },
        },
    }


def run(quick: bool) -> dict[str, Any]:
    cfg = QUICK if quick else FULL
    result = asyncio.run(_scenario(cfg))
    return {
        "machine": machine(),
        "config": {k: v for k, v in cfg.items()},
        "send_gap_s": SEND_GAP_S,
        **result,
    }


def summary(result: dict[str, Any]) -> str:
    r, a, probe = result, result["attacks"], result["bystander_healthz"]
    b = r["bounds"]
    slow, nr = a["slowloris"], a["non_reader"]
    logins = ", ".join(f"{k}: {v}" for k, v in a["logins"].items())

    def met(name: str) -> str:
        return "met" if b[name]["met"] else "NOT MET"

    return "\n".join(
        [
            f"abuse beside a conversation ({r['config']['attack_s']:g} s of attacks; send -> ack)",
            f"  alone         p50 {r['baseline_p50_ms']:8.2f} ms  p99 {r['baseline_p99_ms']:8.2f} ms",
            f"  under attack  p50 {r['attack_p50_ms']:8.2f} ms  p99 {r['attack_p99_ms']:8.2f} ms"
            f"  max {r['attack_max_ms']:8.2f} ms  ({r['attack_round_trips']} round trips)"
            f"  bound p99 < {b['p99_ms_under_attack']['bound']:g} ms: "
            + met("p99_ms_under_attack"),
            f"  afterwards    p50 {r['after_p50_ms']:8.2f} ms",
            f"  server RSS    {r['rss_before_mb']:.1f} MB before, peak {r['rss_peak_mb']:.1f} MB,"
            f" {r['rss_end_of_attack_mb']:.1f} MB at the end, {r['rss_after_mb']:.1f} MB after"
            f"  growth {r['rss_growth_mb']:.1f} MB, bound < {b['rss_growth_mb']['bound']:g} MB: "
            + met("rss_growth_mb"),
            f"  login flood   {logins}",
            f"  non-readers   {nr['sockets']} sockets, {nr['history_requests']} history requests"
            f" never read; {nr.get('answers_received', 0)} answers reached them; closed with"
            f" {nr['closed']}",
            f"  slowloris     {slow['opened']} connections opened, {slow['408']} answered 408,"
            f" {slow['dropped']} closed at once; the server's open descriptors"
            f" {r['fds_before']} before, at most {r['fds_peak']}",
            f"  bystander     /healthz {probe['ok']} ok, {probe['failed']} failed,"
            f" slowest {probe['max_ms']:.1f} ms",
            f"  gateway alive: {r['gateway_alive']}",
        ]
    )


# -- its section of docs/benchmarks.md (bench/report.py) --------------------------------


def markdown(data: dict[str, Any]) -> str:
    """The page's section, from the JSON ``./scripts/bench abuse --json`` wrote."""
    if "error" in data:
        return f"**The workload failed:** `{data['error'][:500]}`"
    if "bounds" not in data:
        return "No abuse results: run `./scripts/bench all`."
    cfg, a, b = data["config"], data["attacks"], data["bounds"]
    nr, slow, probe = a["non_reader"], a["slowloris"], data["bystander_healthz"]

    def ms(x: float | None) -> str:
        return "—" if x is None else f"{x:,.1f}"

    def met(flag: bool) -> str:
        return "**met**" if flag else "**not met**"

    rows = [
        "| bound (under all three attacks at once) | measured | |",
        "|---|---|---|",
        f"| the conversation's send → ack p99 < {b['p99_ms_under_attack']['bound']:g} ms "
        f"| {ms(b['p99_ms_under_attack']['measured'])} ms "
        f"| {met(b['p99_ms_under_attack']['met'])} |",
        f"| the server's peak RSS minus its RSS before < {b['rss_growth_mb']['bound']:g} MB "
        f"| {b['rss_growth_mb']['measured']:,.1f} MB | {met(b['rss_growth_mb']['met'])} |",
        "",
        "| the conversation | p50 ms | p99 ms | max ms | round trips |",
        "|---|---|---|---|---|",
        f"| alone | {ms(data['baseline_p50_ms'])} | {ms(data['baseline_p99_ms'])} | | "
        f"{cfg['baseline_samples']} |",
        f"| under attack ({cfg['attack_s']:g} s) | {ms(data['attack_p50_ms'])} | "
        f"{ms(data['attack_p99_ms'])} | {ms(data['attack_max_ms'])} | "
        f"{data['attack_round_trips']} |",
        f"| afterwards | {ms(data['after_p50_ms'])} | | | {cfg['baseline_samples'] // 4} |",
        "",
        f"Server RSS: {data['rss_before_mb']:.1f} MB before the attacks, peak "
        f"{data['rss_peak_mb']:.1f} MB, {data['rss_end_of_attack_mb']:.1f} MB as they ended, "
        f"{data['rss_after_mb']:.1f} MB {cfg['after_s']:g} s later. Open descriptors: "
        f"{data['fds_before']} before, at most {data['fds_peak']}.",
        "",
        "What the attackers got:",
        "",
        f"* **login flood** ({cfg['login_workers']} concurrent attempts from "
        f"{len(LOGIN_IPS)} addresses, a new email each time): answers "
        + ", ".join(f"{k}: {v:,}" for k, v in a["logins"].items())
        + " (401: checked and wrong; 429: over a per-address or per-account limit; "
        "503: more checks already waiting than `GATEWAY_PASSWORD_CHECKS_WAITING`).",
        f"* **non-reading clients**: {nr['sockets']} sockets asked for the history "
        f"(50 messages of {MAX_MESSAGE_CHARS:,} two-byte characters, about "
        f"400 KB a page) {nr['history_requests']:,} times in all and read nothing; "
        f"{nr.get('answers_received', 0):,} answers ever reached them; their sockets ended "
        + ", ".join(f"{k}: {v}" for k, v in nr["closed"].items())
        + " (1006: aborted by the write timeout; 4008: closed as a slow consumer).",
        f"* **slowloris** ({cfg['slow_connections']} trickling requests and handshakes from "
        f"one address, reopened when closed): {slow['opened']:,} connections, "
        f"{slow['408']:,} answered 408 by the request timeout, {slow['dropped']:,} closed at "
        "once by the per-address connection cap.",
        f"* a **bystander**'s `/healthz` every 0.5 s: {probe['ok']} answered, "
        f"{probe['failed']} failed, the slowest in {probe['max_ms']:,.1f} ms.",
        "",
        f"The gateway was {'alive' if data['gateway_alive'] else '**dead**'} at the end.",
    ]
    return "\n".join(rows)
