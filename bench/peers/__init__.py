"""The peers the gateway is measured beside, each written as its users would write it,
run from their own virtual environment ``bench/.venv-peers`` (made here, from
requirements.txt, the first time it is needed; ``bench/.gitignore`` keeps it out of git).

* ``ws``: the bare ``websockets`` library broadcasting to a room: the ceiling (no
  routing, no persistence, no authentication); one process.
* ``ws-sqlite``: the same, every message committed to SQLite before it is relayed and
  acknowledged (ws_sqlite_server.py): the floor of durability, what committing before
  the ack costs a Python relay and nothing else; one process.
* ``sio``: python-socketio's AsyncServer with AsyncRedisManager on uvicorn, two nodes on
  one Redis; visitors on the first node, agents on the second.
* ``channels``: Django Channels with channels-redis (RedisChannelLayer) on daphne, one
  process; every message goes through Redis.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from devkit import services

HERE = Path(__file__).resolve().parent
VENV = HERE.parent / ".venv-peers"
PY = VENV / "bin" / "python"
REQUIREMENTS = HERE / "requirements.txt"
STAMP = VENV / ".requirements.sha256"
# the peers that are one script of this directory, without Redis
ONE_PROCESS = {"ws": "ws_server.py", "ws-sqlite": "ws_sqlite_server.py"}
PEERS = ("ws", "ws-sqlite", "sio", "channels")
NAMES = {
    "ws": "websockets (bare broadcast, 1 process)",
    "ws-sqlite": "websockets + SQLite, each message committed before its relay and ack, 1 process",
    "sio": "python-socketio + AsyncRedisManager, uvicorn, 2 nodes",
    "channels": "Django Channels + channels-redis, daphne, 1 process",
}


def ensure_venv(log: Path | None = None) -> Path:
    """The peers' interpreter, installing their packages first if needed."""
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == want:
        return PY
    out = open(log or os.devnull, "ab")
    try:
        if not PY.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(VENV)], check=True, stdout=out, stderr=out
            )
        _install(out)
    finally:
        out.close()
    STAMP.write_text(want + "\n")
    return PY


def _install(out: IO[bytes]) -> None:
    """With the uv of the project's environment when it has one (a third of pip's time,
    as in scripts/_venv.sh), else, or if uv fails, with pip."""
    uv = Path(sys.executable).parent / "uv"
    if uv.exists():
        env = {**os.environ, "UV_LINK_MODE": "copy", "UV_COMPILE_BYTECODE": "1"}
        args = [str(uv), "pip", "install", "-q", "--python", str(PY), "-r", str(REQUIREMENTS)]
        if subprocess.run(args, stdout=out, stderr=out, env=env).returncode == 0:
            return
    subprocess.run(
        [str(PY), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)],
        check=True,
        stdout=out,
        stderr=out,
    )


def versions() -> dict[str, str]:
    """The installed versions of the peers' main packages."""
    names = ["websockets", "python-socketio", "uvicorn", "Django", "channels", "channels-redis"]
    code = (
        "import importlib.metadata as m, json, sys;"
        "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    )
    r = subprocess.run([str(PY), "-c", code, *names], capture_output=True, text=True, check=True)
    result: dict[str, str] = json.loads(r.stdout)
    return result


@dataclass
class PeerServer:
    """A running peer: its nodes' (host, port), the server-side pids (including Redis)."""

    name: str
    nodes: list[tuple[str, int]]
    procs: list[subprocess.Popen[bytes]]
    redis: services.Redis | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        out = [p.pid for p in self.procs]
        if self.redis is not None:
            out.append(self.redis.proc.pid)
        return out

    @property
    def node_pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in self.logs if p.exists())

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.redis is not None:
            self.redis.stop()


def _spawn(
    args: list[str], env: dict[str, str], cwd: Path, port: int, logs: list[Path]
) -> subprocess.Popen[bytes]:
    log = Path(tempfile.mkdtemp(prefix="gw-peer-")) / "server.log"
    logs.append(log)
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        services.wait_port(port, 30, proc)
    except Exception as exc:
        with contextlib.suppress(Exception):
            proc.kill()
        output = log.read_text(errors="replace")
        raise RuntimeError(f"{args[:3]} did not start:\n{output}") from exc
    return proc


def start(name: str, python: str | Path | None = None) -> PeerServer:
    """Start peer ``name`` on free loopback ports (and its Redis when it uses one).

    ``python``: another interpreter to run it with (the smoke tests run the bare
    websockets peers with the project's own, which has websockets and uvloop)."""
    py = Path(python) if python else ensure_venv()
    env = {"PYTHONPATH": str(HERE), "PYTHONDONTWRITEBYTECODE": "1"}
    logs: list[Path] = []
    if name in ONE_PROCESS:
        port = services.free_port()
        proc = _spawn([str(py), str(HERE / ONE_PROCESS[name]), str(port)], env, HERE, port, logs)
        return PeerServer(name, [("127.0.0.1", port)], [proc], logs=logs)
    redis = services.start_redis()
    procs: list[subprocess.Popen[bytes]] = []
    nodes: list[tuple[str, int]] = []
    try:
        if name == "sio":
            for _ in range(2):
                port = services.free_port()
                cmd = [str(py), "-m", "uvicorn", "sio_server:app", "--host", "127.0.0.1"]
                cmd += ["--port", str(port), "--log-level", "warning", "--backlog", "4096"]
                procs.append(_spawn(cmd, {**env, "SIO_REDIS_URL": redis.url}, HERE, port, logs))
                nodes.append(("127.0.0.1", port))
        elif name == "channels":
            port = services.free_port()
            cmd = [str(VENV / "bin" / "daphne"), "-b", "127.0.0.1", "-p", str(port)]
            cmd += ["-v", "0", "channels_site.asgi:application"]
            procs.append(_spawn(cmd, {**env, "CHANNELS_REDIS_URL": redis.url}, HERE, port, logs))
            nodes.append(("127.0.0.1", port))
        else:
            raise ValueError(f"unknown peer {name!r}")
    except Exception:
        for proc in procs:
            proc.kill()
        redis.stop()
        raise
    return PeerServer(name, nodes, procs, redis, logs)
