"""scripts/cluster for real: PostgreSQL, Redis, gateways and Debian's nginx.

The script runs as an operator runs it (its own process, its output read line by line,
its commands written to its stdin). The first test goes through nginx: /healthz, a
login, and one agent WebSocket up to its snapshot; then, on the nodes' own ports, a
visitor's file uploaded through node 1 is downloaded through node 2. It does not test
routing between nodes. Then SIGTERM, and every process the script started must be gone, its directory
removed. The others kill a node (the survivor keeps serving through nginx, the node is
started again on its port) and Redis (everything stops). The decisions of the
supervisor (which exit stops everything) are also tested on stand-in processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Origin

from devkit import services
from devkit.services import _pg_bindir
from tests.attachments import files
from tests.gateway.client import Visitor
from tests.ops.deploy_files import ROOT, need_binary
from tests.ops.test_deploy import load_cluster_script

START_TIMEOUT = 60.0
STOP_TIMEOUT = 40.0
EVENT_TIMEOUT = 30.0  # a death noticed, a command answered
READY = "Ctrl-C stops everything"  # the last line of the ready banner


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


def need_services() -> None:
    need_binary("nginx", "nginx")
    need_binary("redis-server", "redis-server")
    try:
        _pg_bindir()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


class Script:
    """A running scripts/cluster.py: its output so far, the processes it started."""

    def __init__(self, proc: asyncio.subprocess.Process, nodes: int, base: int) -> None:
        self.proc = proc
        self.nodes = nodes
        self.base = base
        self.output: list[str] = []
        self.pids: list[int] = []  # every process it said it started
        self.services: dict[str, int] = {}  # name -> pid, from the ready banner
        self.workdir = Path()

    @property
    def text(self) -> str:
        return "".join(self.output)

    @property
    def public(self) -> str:
        return f"http://127.0.0.1:{self.base}"

    async def read_until(self, marker: str, timeout: float) -> str:
        """Read output until a line holding ``marker``; that line."""
        assert self.proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = (await self.proc.stdout.readline()).decode(errors="replace")
                    if not line:
                        raise AssertionError(f"scripts/cluster ended:\n{self.text}")
                    self.output.append(line)
                    if marker in line:
                        return line
        except TimeoutError:
            raise AssertionError(f"no {marker!r} in {timeout:.0f}s:\n{self.text}") from None

    async def ready(self) -> None:
        await self.read_until(READY, START_TIMEOUT)
        text = self.text
        rows = re.findall(r"^  (\S+) +\S+ +pid (\d+) ", text, flags=re.M)
        self.services = {name: int(pid) for name, pid in rows}
        self.pids = list(self.services.values())
        assert len(self.pids) == self.nodes + 3, text  # postgres, redis, the nodes, nginx
        self.workdir = Path(re.findall(rf"starting {self.nodes} node\(s\) in (\S+)", text)[0])
        assert f"Cluster ready: {self.public}" in text

    async def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def finish(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the script to exit, reading the rest of its output; its status."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            rest = await self.proc.stdout.read()
            returncode = await self.proc.wait()
        self.output.append(rest.decode(errors="replace"))
        return returncode


async def nginx_routes_to(http: httpx.AsyncClient, public: str, node: str) -> None:
    """Until a /readyz through nginx is answered by ``node`` (the id /readyz gives)."""
    async with asyncio.timeout(EVENT_TIMEOUT + 10):  # nginx's fail_timeout is 10 s
        while True:
            r = await http.get(f"{public}/readyz")
            if r.status_code == 200 and r.json()["node"] == node:
                return
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def cluster_script(nodes: int, *, commands: bool = False) -> AsyncIterator[Script]:
    """scripts/cluster.py with ``nodes`` nodes on free ports, ready; killed if left running.

    With ``commands`` its stdin is a pipe (Script.command); otherwise /dev/null.
    """
    need_services()
    base = load_cluster_script().free_port_range(nodes + 1)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "scripts/cluster.py"),
        str(nodes),
        "--port",
        str(base),
        "--log-level",
        "warning",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE if commands else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    script = Script(proc, nodes, base)
    try:
        await script.ready()
        yield script
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        for pid in script.pids:  # only if the script failed to stop what it started
            with contextlib.suppress(ProcessLookupError):
                if not gone(pid):
                    os.kill(pid, signal.SIGKILL)


async def a_file_crosses_nodes(script: Script) -> None:
    """A visitor's file uploaded through node 1 is downloaded through node 2: the nodes
    share one blob directory (each had its own, and node 2 answered 404)."""
    node1, node2 = (services.Listening(script.base + n) for n in (1, 2))
    visitor = Visitor(node1, "tp_demo_127", script.public + "/demo", origin=script.public)
    await visitor.bootstrap()
    await visitor.connect()
    await visitor.start(name="Ines")
    assert visitor.sock
    document = files.pdf(3000)
    async with node1.http() as http:
        r = await http.post(
            "/widget/attachments",
            params={"name": "invoice.pdf"},
            content=document,
            headers={"Authorization": f"Bearer {visitor.token}", "Origin": visitor.origin},
        )
    assert r.status_code == 201, r.text
    file_id = r.json()["attachment"]["id"]
    await visitor.sock.send({"type": "send", "client_msg_id": "f-1", "attachments": [file_id]})
    await visitor.sock.expect("ack", client_msg_id="f-1")
    await visitor.sock.send({"type": "links", "attachment_ids": [file_id], "ref": "l-1"})
    got = await visitor.sock.expect("links", ref="l-1")
    await visitor.sock.close()
    async with node2.http() as http:
        r = await http.get(got["links"][file_id]["url"])
    assert r.status_code == 200, r.text
    assert r.content == document


async def test_two_nodes_behind_nginx_answer_health_and_a_websocket() -> None:
    async with cluster_script(2) as script:
        base, public = script.base, script.public
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

        await a_file_crosses_nodes(script)

        script.proc.send_signal(signal.SIGTERM)
        returncode = await script.finish()
        assert returncode == 0, script.text
        assert "cluster: stopped" in script.output[-1]
        assert_all_stopped(script.pids, script.workdir)


async def test_a_killed_node_leaves_the_other_serving_and_starts_again() -> None:
    async with cluster_script(2, commands=True) as script:
        base, public = script.base, script.public
        assert "Commands (type them here): status | kill N | restart N" in script.text
        async with httpx.AsyncClient(timeout=10) as http:
            r = await http.get(f"http://127.0.0.1:{base + 1}/readyz")
            assert r.status_code == 200, r.text
            survivor = r.json()["node"]

            killed = script.services["node-2"]
            os.kill(killed, signal.SIGKILL)  # as an operator would, from another shell
            await script.read_until("to start node-2 again on its port", EVENT_TIMEOUT)
            text = script.text
            assert (
                f"node-2 (pid {killed}, http://127.0.0.1:{base + 2}) exited with code -9"
                " (killed by SIGKILL)" in text
            ), text
            assert f"node-1 keeps serving through nginx on {public}" in text
            assert "type 'restart 2' or kill -USR1" in text
            assert "stopping everything" not in text
            assert script.proc.returncode is None

            # The survivor answers through nginx, whatever nginx tried first.
            for _ in range(6):
                r = await http.get(f"{public}/readyz")
                assert r.status_code == 200, r.text
                assert r.json()["node"] == survivor
            r = await http.get(f"{public}/demo")
            assert r.status_code == 200 and r.headers["server"].startswith("nginx")
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{base + 2}/readyz")
            assert script.proc.returncode is None

            await script.command("restart 2")
            line = await script.read_until("node-2 is back", START_TIMEOUT)
            match = re.search(rf"pid (\d+), http://127\.0\.0\.1:{base + 2};", line)
            assert match, line
            restarted = int(match[1])
            script.pids.append(restarted)
            assert restarted != killed
            r = await http.get(f"http://127.0.0.1:{base + 2}/readyz")  # on its own port
            assert r.status_code == 200, r.text
            node2 = r.json()["node"]
            assert node2 != survivor

            await script.command("status")
            await script.read_until("  nginx ", EVENT_TIMEOUT)
            rows = dict(re.findall(r"^  (node-\d) .* (up|exited.*)$", script.text, flags=re.M))
            assert rows == {"node-1": "up", "node-2": "up"}, script.text

            # The other way round, with the kill command and SIGUSR1. Not before nginx
            # routes to node-2 again: it passes over a node that failed 3 times for
            # fail_timeout (10 s), and would have no node to send requests to.
            await nginx_routes_to(http, public, node2)
            await script.command("kill 1")
            await script.read_until("to start node-1 again on its port", EVENT_TIMEOUT)
            assert "node-2 keeps serving through nginx" in script.text
            r = await http.get(f"{public}/readyz")
            assert r.status_code == 200 and r.json()["node"] == node2, r.text
            script.proc.send_signal(signal.SIGUSR1)
            line = await script.read_until("node-1 is back", START_TIMEOUT)
            match = re.search(rf"pid (\d+), http://127\.0\.0\.1:{base + 1};", line)
            assert match, line
            script.pids.append(int(match[1]))
            r = await http.get(f"http://127.0.0.1:{base + 1}/readyz")
            assert r.status_code == 200, r.text
            assert script.proc.returncode is None

        await script.command("stop")
        returncode = await script.finish()
        assert returncode == 0, script.text
        assert "cluster: stopped" in script.output[-1]
        assert gone(killed)
        assert_all_stopped(script.pids, script.workdir)


async def test_redis_killed_stops_everything() -> None:
    async with cluster_script(1) as script:
        os.kill(script.services["redis"], signal.SIGKILL)
        returncode = await script.finish()
        assert returncode == 1, script.text
        assert "redis (pid" in script.text and "(killed by SIGKILL)" in script.text
        assert "cluster: the nodes cannot serve without redis: stopping everything" in script.text
        assert "cluster: stopped" in script.output[-1]
        assert_all_stopped(script.pids, script.workdir)


# ---------------------------------------------------------------- the supervisor alone


@pytest.fixture
def cluster_module() -> ModuleType:
    return load_cluster_script()


@contextlib.contextmanager
def stand_ins(module: ModuleType, tmp_path: Path, nodes: int) -> Iterator[Any]:
    """A Supervisor (stdin: /dev/null) of a Cluster whose services are ``sleep``s."""
    cluster = module.Cluster(tmp_path, 1, "key")
    made: list[Any] = []

    def service(name: str) -> Any:
        log = tmp_path / f"{name}.log"
        log.write_text(f"{name} log line\n")
        proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
        made.append(module.Service(name, proc, log, f"http://127.0.0.1:0/{name}"))
        return made[-1]

    try:
        cluster.postgres, cluster.redis = service("postgres"), service("redis")
        cluster.nodes = [service(f"node-{i}") for i in range(1, nodes + 1)]
        cluster.nginx = service("nginx")
        with open(os.devnull, "rb") as devnull:
            yield module.Supervisor(cluster, module.Console(devnull.fileno()))
    finally:
        for s in made:
            s.kill()
            s.proc.wait()


def test_a_dead_node_is_announced_once_and_the_others_go_on(
    cluster_module: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with stand_ins(cluster_module, tmp_path, 3) as watch:
        cluster = watch.cluster
        assert watch.check() is None
        watch.command("kill 2")
        assert not cluster.nodes[1].alive()
        assert watch.check() is None
        out = capsys.readouterr()
        assert "node-2 (pid" in out.err and "exited with code -9 (killed by SIGKILL)" in out.err
        assert "| node-2 log line" in out.err
        assert "node-1, node-3 keep serving through nginx" in out.out
        assert f"kill -USR1 {os.getpid()}" in out.out and "type 'restart" not in out.out
        assert watch.check() is None  # announced once
        assert capsys.readouterr().err == ""
        watch.command("status")
        status = capsys.readouterr().out
        assert re.search(r"node-2 .* exited with code -9 \(killed by SIGKILL\)$", status, re.M)
        assert re.search(r"node-3 .* up$", status, re.M)


def test_a_node_that_fails_to_start_again_is_reported_once(
    cluster_module: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with stand_ins(cluster_module, tmp_path, 2) as watch:
        node = watch.cluster.nodes[1]
        watch.command("kill 2")
        assert watch.check() is None
        node.argv = ["sh", "-c", "echo cannot bind; exit 3"]
        capsys.readouterr()
        watch.command("restart 2")
        err = capsys.readouterr().err
        assert "node-2 did not start: node-2 exited with 3" in err and "cannot bind" in err
        assert watch.check() is None  # not announced again; node-1 is up
        assert capsys.readouterr().err == ""
        assert "--- " in node.log.read_text() and "started again" in node.log.read_text()


def test_the_last_node_dead_stops_everything(
    cluster_module: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with stand_ins(cluster_module, tmp_path, 2) as watch:
        cluster = watch.cluster
        for node in cluster.nodes:
            node.kill()
            node.proc.wait()
        assert watch.check() == "no gateway node is left"
        assert "keep serving" not in capsys.readouterr().out


@pytest.mark.parametrize("name", ["postgres", "redis", "nginx"])
def test_postgres_redis_or_nginx_dead_stops_everything(
    cluster_module: ModuleType, tmp_path: Path, name: str
) -> None:
    with stand_ins(cluster_module, tmp_path, 2) as watch:
        cluster = watch.cluster
        service = getattr(cluster, name)
        service.proc.terminate()
        service.proc.wait()
        assert watch.check() == f"the nodes cannot serve without {name}"


def test_commands_are_read_from_a_pipe_line_by_line(
    cluster_module: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    read, write = os.pipe()
    try:
        console = cluster_module.Console(read)
        assert console.open
        os.write(write, b"status\n  restart 2 \n\nsto")
        assert console.lines(5) == ["status", "restart 2"]
        assert console.lines(0.01) == []
        os.write(write, b"p\n")
        assert console.lines(5) == ["stop"]
        os.write(write, b"help")
        os.close(write)
        write = -1
        lines = console.lines(5)
        if not lines:  # "help" and the end of input came apart
            lines = console.lines(5)
        assert lines == ["help"] and not console.open
        assert "end of input on stdin" in capsys.readouterr().out
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)
    with open(os.devnull) as devnull:
        assert not cluster_module.Console(devnull.fileno()).open


def test_unknown_commands_and_nodes_are_refused(
    cluster_module: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with stand_ins(cluster_module, tmp_path, 2) as watch:
        cluster = watch.cluster
        watch.command("kill 3")
        watch.command("restart node-0")
        watch.command("dance")
        out = capsys.readouterr().out
        assert out.count("no node") == 2 and "the nodes are 1 to 2" in out
        assert "unknown command 'dance'; commands: status | kill N" in out
        assert all(node.alive() for node in cluster.nodes)
        with pytest.raises(cluster_module.Stop):
            watch.command("stop")
