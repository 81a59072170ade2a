"""``python -m gateway serve`` as a real process: what an operator sees when a setting
is wrong, when start-up fails, and when the process is stopped (docs/deploy.md, "Exit
statuses")."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {
        "GATEWAY_DATA_DIR": str(tmp_path / "data"),
        "GATEWAY_PORT": str(free_port()),
        "GATEWAY_LOG_LEVEL": "info",
    }
    return env | extra


def run(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "serve"],
        cwd=ROOT,
        env=env_for(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_DATABASE_URL", "sqlite://x"),
        ("GATEWAY_DATABASE_URL", "sqlite:///"),
        ("GATEWAY_DATABASE_URL", "postgresql://gateway@[::1/gateway"),
        ("GATEWAY_DATABASE_URL", "postgresql://gateway@db:54x2/gateway"),
        ("GATEWAY_BLOB_URL", "file://relative"),
        ("GATEWAY_BLOB_URL", "file:///"),
        ("GATEWAY_BLOB_URL", "s3://"),
        ("GATEWAY_BLOB_URL", "s3://k:s@b"),
        ("GATEWAY_BLOB_URL", "s3://b?endpont=http://127.0.0.1:9"),
        ("GATEWAY_CHAT_ATTACHMENT_TYPES", "jpg,exe"),
        ("GATEWAY_REDIS_URL", "redis://h:notaport"),
        ("GATEWAY_DATA_DIR", "/etc/hostname"),
        ("GATEWAY_DATA_DIR", "/proc/nope"),
        ("GATEWAY_DATA_DIR", "/proc"),  # a directory it cannot write in: was a traceback
        ("GATEWAY_DEMO_PROVIDERS", "twillio=http://127.0.0.1:9"),
        ("GATEWAY_PUBLIC_URL", "https://chat.example.com:notaport"),
    ],
)
def test_a_bad_setting_exits_2_naming_it_without_a_traceback(
    tmp_path: Path, name: str, value: str
) -> None:
    extra = {name: value}
    if name == "GATEWAY_REDIS_URL":
        extra["GATEWAY_SECRET_KEY"] = "k" * 32
    if name in ("GATEWAY_PUBLIC_URL", "GATEWAY_DEMO_PROVIDERS"):
        extra["GATEWAY_DEMO"] = "1"
    r = run(tmp_path, **extra)
    assert r.returncode == 2, r.stderr[-3000:]
    assert f"gateway: invalid configuration: {name}" in r.stderr
    assert "Traceback" not in r.stderr
    # refused before anything is written (the attachment types once after secret.key)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://gateway@127.0.0.1:1/gateway",  # nothing listens there
        "postgresql://gateway@no.such.host.invalid/gateway",  # no such host
    ],
)
def test_a_failed_start_up_says_why_in_one_line(tmp_path: Path, dsn: str) -> None:
    r = run(tmp_path, GATEWAY_DATABASE_URL=dsn)
    assert r.returncode not in (0, 2), r.stderr[-3000:]
    assert "gateway: cannot start: " in r.stderr
    assert "Traceback" not in r.stderr


def test_a_failed_start_up_shows_the_traceback_at_debug_level(tmp_path: Path) -> None:
    r = run(
        tmp_path,
        GATEWAY_DATABASE_URL="postgresql://gateway@127.0.0.1:1/gateway",
        GATEWAY_LOG_LEVEL="debug",
    )
    assert "gateway: cannot start: " in r.stderr and "Traceback" in r.stderr


def test_a_host_it_cannot_listen_on_is_named_and_never_called_ready(tmp_path: Path) -> None:
    r = run(tmp_path, GATEWAY_HOST="no.such.host.invalid")
    assert r.returncode not in (0, 2), r.stderr[-3000:]
    assert "GATEWAY_HOST=no.such.host.invalid" in r.stderr
    assert "ready on" not in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "no-such-host.invalid"])
def test_an_address_it_cannot_listen_on_exits_3_at_once_with_the_reason(
    tmp_path: Path, host: str
) -> None:
    """Bound before anything starts: no migration, no demo, no data directory, and the
    reason in the one line (it was only in uvicorn's log, after a full start and stop)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        r = run(tmp_path, GATEWAY_HOST=host, GATEWAY_PORT=port, GATEWAY_DEMO="1")
    assert r.returncode == 3, r.stderr[-3000:]
    [line] = r.stderr.splitlines()
    where = f"gateway: cannot start: cannot listen on GATEWAY_HOST={host} GATEWAY_PORT={port}: "
    # the resolver's words for a name it cannot find vary with its configuration
    reasons = (
        ["Address already in use"]
        if host == "127.0.0.1"
        else ["Name or service not known", "Temporary failure in name resolution"]
    )
    assert line in [where + reason for reason in reasons], line
    assert not (tmp_path / "data").exists()


class Served:
    """A running ``gateway serve`` whose stderr is collected as it comes."""

    def __init__(self, env: dict[str, str], command: list[str] | None = None) -> None:
        self.proc = subprocess.Popen(
            command or [sys.executable, "-m", "gateway", "serve"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.STDOUT,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if "ready on" in line:
                self.ready.set()
        self.ready.set()  # ended: whoever waits looks at the output

    @property
    def text(self) -> str:
        return "".join(self.lines)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_and_exits_0_without_a_traceback(
    tmp_path: Path, sig: signal.Signals
) -> None:
    served = Served(env_for(tmp_path))
    try:
        assert served.ready.wait(START_TIMEOUT) and served.proc.poll() is None, served.text
        served.proc.send_signal(sig)
        status = served.proc.wait(STOP_TIMEOUT)
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait()
    served.reader.join(STOP_TIMEOUT)
    assert status == 0, served.text
    assert "drained and stopped" in served.text
    assert "Traceback" not in served.text


def wait_read_by_server(conn: socket.socket, timeout: float = START_TIMEOUT) -> bool:
    """Whether the server side of ``conn`` read what was sent (its receive queue in
    /proc/net/tcp is empty): the request is then in flight, not waiting in the kernel."""
    ours = conn.getsockname()[1]
    theirs = conn.getpeername()[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if (
                int(local.split(":")[1], 16) == theirs
                and int(remote.split(":")[1], 16) == ours
                and int(queues.split(":")[1], 16) == 0
            ):
                return True
        time.sleep(0.01)  # polling the kernel's table; the bound is the deadline
    return False


def test_scripts_serve_ends_only_after_the_gateway_drained(tmp_path: Path) -> None:
    """SIGTERM to ./scripts/serve (a supervisor, a container's PID 1): the script used to
    return while the gateway still drained, its exit trap stopping the emulators under
    it. A request in flight holds the drain open for a while."""
    env = env_for(tmp_path, GATEWAY_DRAIN_TIMEOUT="3")
    env.pop("GATEWAY_DEMO", None)  # the script's default: demo on, emulators running
    script = Served(env, [str(ROOT / "scripts" / "serve")])
    gateway = 0
    try:
        assert script.ready.wait(START_TIMEOUT) and script.proc.poll() is None, script.text
        children = Path(f"/proc/{script.proc.pid}/task/{script.proc.pid}/children")
        for pid in map(int, children.read_text().split()):
            if "gateway\0serve" in Path(f"/proc/{pid}/cmdline").read_text():
                gateway = pid
        assert gateway, script.text
        with socket.create_connection(("127.0.0.1", int(env["GATEWAY_PORT"]))) as held:
            held.sendall(
                b"POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: 80\r\n\r\n{"
            )
            assert wait_read_by_server(held), "the gateway never read the request"
            script.proc.send_signal(signal.SIGTERM)
            status = script.proc.wait(STOP_TIMEOUT)
            gateway_alive = Path(f"/proc/{gateway}").exists()
    finally:
        if script.proc.poll() is None:
            script.proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(script.proc.pid, signal.SIGKILL)  # the session it started
        script.proc.wait()
    assert not gateway_alive, "the script returned before the gateway had exited"
    assert status == 0, script.text


def test_scripts_serve_points_its_emulators_at_a_port_from_the_config_file(
    tmp_path: Path,
) -> None:
    """Regression: the demo's emulators posted their webhooks to GATEWAY_PORT or 8000, so
    with the port in GATEWAY_CONFIG_FILE a text from /demo/phone reached nothing."""
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(f"port = {port}\n")
    env = env_for(tmp_path, GATEWAY_CONFIG_FILE=str(config))
    del env["GATEWAY_PORT"]
    script = Served(env, [str(ROOT / "scripts" / "serve")])
    try:
        assert script.ready.wait(START_TIMEOUT) and script.proc.poll() is None, script.text
        assert f"ready on http://127.0.0.1:{port}" in script.text, script.text
        twilio = ""
        children = Path(f"/proc/{script.proc.pid}/task/{script.proc.pid}/children")
        for pid in map(int, children.read_text().split()):
            args = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
            if "devkit.emulators" in args:
                twilio = f"http://127.0.0.1:{args[args.index('--twilio') + 1]}"
        assert twilio, script.text
        sent = httpx.post(
            f"{twilio}/_emulator/phone/send",
            json={"to": "+14155550100", "from": "+12025550177", "body": "Hello from a phone"},
            timeout=30,
        )
        assert sent.status_code == 200, sent.text
        hooks = httpx.get(f"{twilio}/_emulator/webhooks?settle=1", timeout=60).json()
        [hook] = hooks
        assert hook["url"].startswith(f"http://127.0.0.1:{port}/"), hook
        assert hook["delivered"] and hook["attempts"][-1] == 200, hook
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(script.proc.pid, signal.SIGTERM)
        try:
            script.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(script.proc.pid, signal.SIGKILL)
            script.proc.wait()


def test_the_port_is_listened_on_before_the_start_so_no_other_process_takes_it() -> None:
    """Regression (review): the sockets were bound and not listened on until the server
    started, and on Linux another process's SO_REUSEADDR socket may bind an address no
    one listens on: it took the port during this node's start, which then ran deaf."""
    from gateway.cli import listen
    from gateway.settings import load_settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = load_settings({"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)})
    sockets = listen(settings)
    try:
        other = socket.socket()
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with other, pytest.raises(OSError):
            other.bind(("127.0.0.1", port))
    finally:
        for sock in sockets:
            sock.close()


def test_an_address_family_the_kernel_lacks_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """As asyncio's create_server: a host that also resolves to IPv6 on a kernel without
    it listens on its IPv4 address rather than refusing to start."""
    from gateway import cli
    from gateway.settings import load_settings

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    real_socket = socket.socket
    stream = socket.SOCK_STREAM
    monkeypatch.setattr(
        cli.socket,
        "getaddrinfo",
        lambda *a, **k: [
            (socket.AF_INET6, stream, 6, "", ("::1", port, 0, 0)),
            (socket.AF_INET, stream, 6, "", ("127.0.0.1", port)),
        ],
    )

    def no_ipv6(family: int = socket.AF_INET, *rest: object) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(97, "Address family not supported by protocol")
        return real_socket(family, *rest)  # type: ignore[arg-type]

    monkeypatch.setattr(cli.socket, "socket", no_ipv6)
    settings = load_settings({"GATEWAY_HOST": "localhost", "GATEWAY_PORT": str(port)})
    sockets = cli.listen(settings)
    try:
        assert [s.getsockname() for s in sockets] == [("127.0.0.1", port)]
    finally:
        for sock in sockets:
            sock.close()
