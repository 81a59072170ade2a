"""scripts/cluster for real: PostgreSQL, Redis, two gateways and Debian's nginx.

The script runs as an operator runs it (its own process, its output read line by
line); the test goes through nginx only: /healthz, a login, and one agent WebSocket up
to its snapshot. It does not test routing between nodes. Then SIGTERM, and every
process the script started must be gone, its directory removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin

from devkit.services import _pg_bindir
from tests.ops.deploy_files import ROOT, need_binary
from tests.ops.test_deploy import load_cluster_script

START_TIMEOUT = 60.0
STOP_TIMEOUT = 40.0


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone for our purpose (its parent has not reaped it yet).
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    return True


def assert_all_stopped(pids: list[int], workdir: Path) -> None:
    leftover = [pid for pid in pids if not gone(pid)]
    assert leftover == [], f"still running: {leftover}"
    assert not workdir.exists(), f"{workdir} was not removed"


async def test_two_nodes_behind_nginx_answer_health_and_a_websocket() -> None:
    need_binary("nginx", "nginx")
    need_binary("redis-server", "redis-server")
    try:
        _pg_bindir()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    base = load_cluster_script().free_port_range(3)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "scripts/cluster.py"),
        "2",
        "--port",
        str(base),
        "--log-level",
        "warning",
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    output: list[str] = []
    pids: list[int] = []

    async def read_until(marker: str, timeout: float) -> None:
        assert proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                line = (await proc.stdout.readline()).decode(errors="replace")
                if not line:
                    raise AssertionError("scripts/cluster ended:\n" + "".join(output))
                output.append(line)
                if marker in line:
                    return

    try:
        try:
            await read_until("Ctrl-C stops everything", START_TIMEOUT)
        except TimeoutError:
            raise AssertionError("cluster not ready:\n" + "".join(output)) from None
        text = "".join(output)
        pids = [int(p) for p in re.findall(r"\bpid (\d+)", text)]
        assert len(pids) == 5, text  # postgres, redis, two nodes, nginx
        workdir = Path(re.findall(r"starting 2 node\(s\) in (\S+)", text)[0])
        public = f"http://127.0.0.1:{base}"
        assert f"Cluster ready: {public}" in text

        async with httpx.AsyncClient(base_url=public, timeout=10) as http:
            r = await http.get("/healthz")
            assert r.status_code == 200 and r.json()["status"] == "ok"
            assert r.headers["server"].startswith("nginx")
            for port in (base + 1, base + 2):  # both nodes are up behind it
                direct = await http.get(f"http://127.0.0.1:{port}/readyz")
                assert direct.status_code == 200, direct.text
            r = await http.post(
                "/api/login", json={"email": "agent@demo.test", "password": "demo-agent"}
            )
            assert r.status_code == 200, r.text
            token = r.json()["token"]

        ws_url = f"ws://127.0.0.1:{base}/ws/agent"
        async with connect(ws_url, origin=Origin(public), open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "hello", "v": 1, "token": token}))
            async with asyncio.timeout(10):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame["type"] == "snapshot":
                        break
            assert frame["agent"]["name"]
            assert "inbox" in frame and "assigned" in frame

        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_TIMEOUT):
            rest = await proc.stdout.read()
            returncode = await proc.wait()
        output.append(rest.decode(errors="replace"))
        assert returncode == 0, "".join(output)
        assert "cluster: stopped" in output[-1]
        assert_all_stopped(pids, workdir)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for pid in pids:  # only if the script failed to stop what it started
            with contextlib.suppress(ProcessLookupError):
                if not gone(pid):
                    os.kill(pid, signal.SIGKILL)
