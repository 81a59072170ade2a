"""The socket layer alone: what serving a WebSocket costs the server, per frame sent and
per idle connection, through the stack the gateway uses against the websockets
library's own server, on the same event loop (uvloop), with nothing else in the server.

Servers (each its own process, ``python -m bench.sockets serve KIND PORT``):

* ``asgi``: a Starlette ``WebSocketRoute`` on uvicorn with its ``websockets-sansio``
  protocol and no compression, as the gateway served its sockets before it called them
  straight from uvicorn (gateway/web/direct.py; bench/idle.py measures the gateway as it
  is); each frame is ``await websocket.send_text(text)``, the path of gateway/web/hub.py.
* ``websockets``: ``websockets.asyncio.server.serve``; each frame ``await ws.send(text)``.
* ``prebuilt``: the same server, but each frame's bytes (header and payload) are built
  once and written to the transport as they are: the cost of "encode once, write the
  same bytes to every recipient" below any WebSocket library.
* ``gateway``: what was chosen with the three above, served by the gateway's own
  ``build_server`` (gateway/cli.py: uvicorn with the gateway's protocol classes -- the
  connection limits, the pings on one timer, frames in below websockets' parser -- and
  its plain WebSocket routes called straight from uvicorn, gateway/web/direct.py), each
  frame built once and written with ``write_frame``, waiting on ``writable`` as
  gateway/web/hub.py does.

In ``prebuilt`` and ``gateway`` the server lets the event loop turn once per frame, as
awaiting a send does: in the relay a socket's frames come in separate turns, and
``write_frame`` would put the frames of one turn into one write.

A client (this process, thin ``bench.loadgen.Conn`` sockets) opens ``conns`` sockets
and asks each server for ``frames`` frames of ``FRAME_BYTES`` on each, counting them as
they arrive; the server's CPU time (user + system, /proc) over the frames is *CPU µs per
frame*. Then it holds ``idle`` sockets open and reads the server's RSS: *KiB per idle
connection* is the RSS slope between the first checkpoint and the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from typing import Any

from bench import loadgen
from bench.loadgen import ROOT, Conn, cpu_seconds, rss_bytes
from devkit import services

KINDS = ("asgi", "websockets", "prebuilt", "gateway")
FRAME_BYTES = 200
PAYLOAD = ('{"type":"message","body":"' + "x" * (FRAME_BYTES - 29) + '"}').encode()
FULL = {"conns": 100, "frames": 2_000, "idle": 8_000, "rounds": 3}
QUICK = {"conns": 20, "frames": 500, "idle": 1_000, "rounds": 1}


# -- the servers ---------------------------------------------------------------------


def _frame(payload: bytes) -> bytes:
    """An unmasked server text frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


def _burst_size(text: str) -> int:
    return int(text.split()[1]) if text.startswith("burst ") else 0


def serve_asgi(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    text = PAYLOAD.decode()

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                for _ in range(_burst_size(await ws.receive_text())):
                    await ws.send_text(text)

    app = Starlette(routes=[WebSocketRoute("/", endpoint)])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        loop="uvloop",
        ws_per_message_deflate=False,
        log_level="warning",
        backlog=4096,
    )


def serve_websockets(port: int, prebuilt: bool) -> None:
    import uvloop
    import websockets
    from websockets.asyncio.server import ServerConnection, serve

    text = PAYLOAD.decode()
    frame = _frame(PAYLOAD)

    async def handler(ws: ServerConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in ws:
                n = _burst_size(str(message))
                if prebuilt:
                    write = ws.transport.write
                    for _ in range(n):
                        write(frame)
                        await asyncio.sleep(0)  # a turn of the loop per frame, as awaiting a send
                else:
                    for _ in range(n):
                        await ws.send(text)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, compression=None, backlog=4096) as server:
            await server.serve_forever()

    uvloop.run(main())


def serve_gateway(port: int) -> None:
    import types

    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from gateway.cli import build_server
    from gateway.settings import load_settings
    from gateway.web.context import Health
    from gateway.web.transport import WIRE, text_frame

    # the defaults, but for the port, the log, and the connections one address may hold
    # (all come from 127.0.0.1)
    settings = load_settings(
        {
            "GATEWAY_PORT": str(port),
            "GATEWAY_LOG_LEVEL": "warning",
            "GATEWAY_MAX_CONNECTIONS_PER_IP": "0",
        }
    )
    frame = text_frame(PAYLOAD)

    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        wire = ws.scope["extensions"][WIRE]
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                for _ in range(_burst_size(await ws.receive_text())):
                    if not wire.writable.is_set():
                        await wire.writable.wait()
                    if not wire.write_frame(frame):
                        return
                    await asyncio.sleep(0)

    async def store_up() -> bool:
        return True

    app = Starlette(routes=[WebSocketRoute("/", endpoint)])
    # what the server's SIGTERM marks draining (gateway/cli.py); nothing else of the
    # gateway's context is served here
    app.state.web = types.SimpleNamespace(health=Health("sockets", lambda: False, store_up))
    build_server(app, settings).run()


# -- the client ----------------------------------------------------------------------


class Server:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.port = services.free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sockets", "serve", kind, str(self.port)], cwd=ROOT
        )
        services.wait_port(self.port, timeout=30, proc=self.proc)

    def stop(self) -> None:
        services.stop_process(self.proc)


async def _connect(port: int, n: int, concurrency: int = 64) -> list[Conn]:
    sem = asyncio.Semaphore(concurrency)

    async def one() -> Conn:
        async with sem:
            return await Conn.connect("127.0.0.1", port, "/", "http://127.0.0.1")

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def _frames(server: Server, conns: int, frames: int) -> dict[str, Any]:
    socks = await _connect(server.port, conns)
    want = conns * frames
    got = 0
    done = asyncio.get_running_loop().create_future()

    def on_frame(c: Conn, data: bytes) -> None:
        nonlocal got
        got += 1
        if got == want and not done.done():
            done.set_result(None)

    for s in socks:
        s.on_frame = on_frame
    await asyncio.sleep(0.2)
    cpu0, t0 = cpu_seconds([server.proc.pid]), time.monotonic()
    for s in socks:
        s.send(f"burst {frames}")
    async with asyncio.timeout(120):
        await done
    wall = time.monotonic() - t0
    cpu = cpu_seconds([server.proc.pid]) - cpu0
    for s in socks:
        s.close()
    return {
        "frames": want,
        "frames_per_s": round(want / wall),
        "cpu_us_per_frame": round(cpu / want * 1e6, 2),
    }


async def _idle(server: Server, total: int) -> dict[str, Any]:
    pid = server.proc.pid
    base = rss_bytes(pid)
    socks: list[Conn] = []
    points: list[tuple[int, int]] = []
    step = max(1, total // 4)
    while len(socks) < total:
        socks += await _connect(server.port, min(step, total - len(socks)))
        await asyncio.sleep(0.5)
        points.append((len(socks), rss_bytes(pid)))
    (n0, r0), (n1, r1) = points[0], points[-1]
    for s in socks:
        s.close()
    return {
        "open": len(socks),
        "rss_mib": round(r1 / 2**20, 1),
        "kib_per_conn": round((r1 - r0) / max(1, n1 - n0) / 1024, 2),
        "kib_per_conn_from_start": round((r1 - base) / max(1, n1) / 1024, 2),
        "checkpoints": [[n, round(r / 2**20, 1)] for n, r in points],
    }


async def _measure(kind: str, cfg: dict[str, Any]) -> dict[str, Any]:
    server = Server(kind)
    try:
        rounds = [await _frames(server, cfg["conns"], cfg["frames"]) for _ in range(cfg["rounds"])]
    finally:
        server.stop()
    server = Server(kind)  # a fresh process for its memory
    try:
        idle = await _idle(server, cfg["idle"])
    finally:
        server.stop()
    cpu = sorted(r["cpu_us_per_frame"] for r in rounds)
    return {
        "rounds": rounds,
        "cpu_us_per_frame": cpu[len(cpu) // 2],
        "frames_per_s": sorted(r["frames_per_s"] for r in rounds)[len(rounds) // 2],
        "idle": idle,
    }


def run(quick: bool) -> dict[str, Any]:
    cfg = dict(QUICK if quick else FULL)
    loadgen.raise_nofile()

    async def all_kinds() -> dict[str, Any]:
        return {kind: await _measure(kind, cfg) for kind in KINDS}

    import uvloop

    systems = uvloop.run(all_kinds())
    ws_cpu = systems["websockets"]["cpu_us_per_frame"]
    ws_kib = systems["websockets"]["idle"]["kib_per_conn"]
    out: dict[str, Any] = {"config": cfg, "frame_bytes": len(PAYLOAD), "systems": systems}
    for kind in ("asgi", "gateway"):  # each against websockets' own server
        s = systems[kind]
        out[f"{kind}_to_websockets_cpu_ratio"] = round(s["cpu_us_per_frame"] / ws_cpu, 2)
        out[f"{kind}_to_websockets_idle_ratio"] = (
            round(s["idle"]["kib_per_conn"] / ws_kib, 2) if ws_kib > 0 else None
        )
    return out


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"sockets: {result['frame_bytes']}-byte text frames, "
        f"{result['config']['conns']} sockets x {result['config']['frames']} frames; "
        f"{result['config']['idle']:,} idle sockets",
        f"  {'server':11} {'CPU us/frame':>13} {'frames/s':>10} {'KiB/idle conn':>14}",
    ]
    for kind, s in result["systems"].items():
        lines.append(
            f"  {kind:11} {s['cpu_us_per_frame']:>13} {s['frames_per_s']:>10,} "
            f"{s['idle']['kib_per_conn']:>14}"
        )
    for kind in ("asgi", "gateway"):
        lines.append(
            f"  {kind} / websockets, CPU per frame: {result[f'{kind}_to_websockets_cpu_ratio']}, "
            f"KiB per idle: {result[f'{kind}_to_websockets_idle_ratio']}"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "serve":
        kind, port = argv[1], int(argv[2])
        loadgen.raise_nofile()
        if kind == "asgi":
            serve_asgi(port)
        elif kind == "gateway":
            serve_gateway(port)
        else:
            serve_websockets(port, prebuilt=kind == "prebuilt")
        return 0
    print("usage: python -m bench.sockets serve KIND PORT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
