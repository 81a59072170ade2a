"""A local multi-node gateway: PostgreSQL, Redis, N gateway nodes and nginx in front.

Run by ./scripts/cluster, which makes the virtual environment first:

    ./scripts/cluster              2 nodes: nginx on 127.0.0.1:8000, nodes on 8001-8002
    ./scripts/cluster 3            3 nodes on 8001-8003
    ./scripts/cluster 2 --port 9000   nginx on 9000, nodes on 9001-9002

Everything listens on 127.0.0.1 and lives in one temporary directory (the logs too),
removed at the end unless --keep. Each server runs in a session of its own, so Ctrl-C
reaches only this script, which then stops them in order: the gateways first with
SIGTERM (they drain), then nginx, Redis and PostgreSQL, and removes the directory.

A gateway node that exits (kill -9, a crash) leaves the others running: the script
says which node died, how, and the end of its log; the survivors keep serving through
nginx, and the node can be started again on its own port with its own environment.
Only when the last node is gone, or when PostgreSQL, Redis or nginx exits (the nodes
cannot serve without them), does it stop everything, with exit status 1.

Commands, one a line on stdin when stdin is a terminal or a pipe:

    status        every process: up, or how it exited; its pid and address
    kill N        SIGKILL node N: a crash, to watch the others take over
    restart N     start node N again (a running node drains first, with SIGTERM)
    restart       start every dead node again
    stop          stop everything, as Ctrl-C does
    help          this list

SIGUSR1 to this script also starts every dead node again (for when stdin is not
usable, e.g. the script runs in the background).

As a last resort, each child asks the kernel for SIGTERM should this script die without
cleaning up (PR_SET_PDEATHSIG; best effort: some sandboxed kernels ignore it, so a
``kill -9`` of this script can leave its servers behind). A missing binary is an error
naming the Debian package (./scripts/setup-services installs them all).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import pwd
import re
import secrets
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devkit.services import ServiceMissing, _pg_bindir, wait_port  # noqa: E402

NGINX_TEMPLATE = ROOT / "deploy" / "nginx" / "cluster.conf.in"
GATEWAY_CONF = ROOT / "deploy" / "nginx" / "gateway.conf"
DRAIN_TIMEOUT = 10.0  # GATEWAY_DRAIN_TIMEOUT of the nodes
_PR_SET_PDEATHSIG = 1


class Stop(Exception):
    """A signal asked the cluster to stop."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # Linux: SIGTERM this child when the script that started it dies, however it dies.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Service:
    """One child server, started in a session of its own; it can be started again."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str
    stop_signal: int = signal.SIGTERM
    # How it was started, to start it again the same way (same port, same environment).
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    cwd: Path | None = None
    user: str | None = None
    reported: bool = False  # its exit has been announced

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(self.stop_signal)

    def kill(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"cluster: {self.name} did not stop in {timeout:.0f}s: killed", file=sys.stderr)
            self.proc.kill()
            return self.proc.wait()

    def respawn(self) -> None:
        """Start it again as it was started; its log goes on in the same file."""
        assert not self.alive(), f"{self.name} is running"
        with open(self.log, "ab") as out:
            out.write(
                f"\n--- {time.strftime('%H:%M:%S')} started again by scripts/cluster ---\n".encode()
            )
        self.proc = _popen(self.argv, self.log, env=self.env, cwd=self.cwd, user=self.user)
        self.reported = False

    def state(self) -> str:
        return "up" if self.alive() else describe_exit(self.proc.returncode)

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def describe_exit(returncode: int | None) -> str:
    """How a process ended, from Popen.returncode: "exited with code -9 (killed by SIGKILL)"."""
    if returncode is None:
        return "running"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"exited with code {returncode} (killed by {name})"
    return f"exited with code {returncode}"


def _popen(
    argv: list[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            user=user,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )


def _spawn(
    name: str,
    argv: list[str],
    log: Path,
    url: str,
    *,
    stop_signal: int = signal.SIGTERM,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> Service:
    proc = _popen(argv, log, env=env, cwd=cwd, user=user)
    return Service(name, proc, log, url, stop_signal, argv, env, cwd, user)


@dataclass
class Cluster:
    workdir: Path
    nginx_port: int
    secret_key: str
    database_url: str = ""
    redis_url: str = ""
    postgres: Service | None = None
    redis: Service | None = None
    nodes: list[Service] = field(default_factory=list)
    nginx: Service | None = None

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.nginx_port}"

    def services(self) -> list[Service]:
        started = [self.postgres, self.redis, *self.nodes, self.nginx]
        return [s for s in started if s is not None]

    def stop(self) -> None:
        """Gateways first (SIGTERM: they drain), then nginx, Redis, PostgreSQL."""
        for node in self.nodes:
            node.signal()
        for node in self.nodes:
            node.wait(DRAIN_TIMEOUT + 10)
        for service in (self.nginx, self.redis, self.postgres):
            if service is not None:
                service.signal()
                service.wait(20)

    def summary(self) -> str:
        rows = [(s.name, s.url, s.pid, s.log) for s in self.services()]
        width = max(len(r[0]) for r in rows)
        lines = [
            f"  {name:<{width}}  {url:<38} pid {pid:<7} log {log}" for name, url, pid, log in rows
        ]
        return "\n".join(lines)

    def status(self) -> str:
        services = self.services()
        width = max(len(s.name) for s in services)
        return "\n".join(
            f"  {s.name:<{width}}  {s.url:<38} pid {s.pid:<7} {s.state()}" for s in services
        )

    def node(self, ref: str) -> Service:
        """Node ``ref``: its number ("2") or its name ("node-2")."""
        number = ref.removeprefix("node-")
        if number.isdigit() and 1 <= int(number) <= len(self.nodes):
            return self.nodes[int(number) - 1]
        raise LookupError(f"no node {ref!r}: the nodes are 1 to {len(self.nodes)}")

    def restart_node(self, node: Service) -> None:
        """Start ``node`` again on its port with its environment, and wait until ready.

        A running node is stopped first with SIGTERM (it drains). Raises RuntimeError
        when it exits while starting, TimeoutError when it is not ready in time.
        """
        if node.alive():
            print(f"cluster: {node.name} drains (SIGTERM) before it starts again", flush=True)
            node.signal()
            node.wait(DRAIN_TIMEOUT + 10)
        print(f"cluster: starting {node.name} again on {node.url}", flush=True)
        node.respawn()
        _wait_http(node, node.url + "/healthz")
        _wait_http(node, node.url + "/readyz")


def _need(binary: str, package: str) -> str:
    found = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise ServiceMissing(
            f"{binary} not found: install the Debian package '{package}' "
            "(./scripts/setup-services installs everything the cluster needs)"
        )
    return found


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_range(count: int, low: int = 20000, high: int = 40000) -> int:
    """A first port of ``count`` consecutive free ports on 127.0.0.1."""
    for _ in range(200):
        base = secrets.randbelow(high - low - count) + low
        if all(port_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports between {low} and {high}")


def _wait_http(service: Service, url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not service.alive():
            raise RuntimeError(
                f"{service.name} exited with {service.proc.returncode}:\n{service.tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{service.name}: {url} not healthy after {timeout:.0f}s ({last})")


def start_postgres(cluster: Cluster, port: int) -> None:
    bindir = _pg_bindir()
    base = cluster.workdir / "postgres"
    base.mkdir()
    datadir = base / "data"
    # PostgreSQL refuses to run as root: run it as the 'postgres' system user then.
    user = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServiceMissing(
                "running as root needs the 'postgres' user (Debian's package 'postgresql')"
            ) from exc
        user = "postgres"
        os.chown(base, pw.pw_uid, pw.pw_gid)
    initdb = [str(bindir / "initdb"), "-D", str(datadir), "-U", "gateway", "-A", "trust"]
    initdb += ["--no-sync", "-E", "UTF8", "--locale=C"]
    r = subprocess.run(initdb, capture_output=True, user=user, start_new_session=True)
    if r.returncode != 0:
        raise RuntimeError(f"initdb failed:\n{r.stderr.decode(errors='replace')}")
    argv = [str(bindir / "postgres"), "-D", str(datadir), "-p", str(port), "-k", str(base)]
    argv += ["-h", "127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"]
    dsn = f"postgresql://gateway@127.0.0.1:{port}/gateway"
    # SIGINT is PostgreSQL's fast shutdown.
    cluster.postgres = _spawn(
        "postgres",
        argv,
        cluster.workdir / "logs" / "postgres.log",
        dsn,
        stop_signal=signal.SIGINT,
        user=user,
    )
    wait_port(port, proc=cluster.postgres.proc)
    createdb = [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "gateway"]
    deadline = time.monotonic() + 20
    while True:  # it listens before it accepts logins
        r = subprocess.run(
            [*createdb, "gateway"], capture_output=True, user=user, start_new_session=True
        )
        if r.returncode == 0 or b"already exists" in r.stderr:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"createdb failed: {r.stderr.decode(errors='replace')}")
        time.sleep(0.1)
    cluster.database_url = dsn


def start_redis(cluster: Cluster, port: int) -> None:
    binary = _need("redis-server", "redis-server")
    data = cluster.workdir / "redis"
    data.mkdir()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    argv += ["no", "--dir", str(data), "--daemonize", "no", "--protected-mode", "no"]
    url = f"redis://127.0.0.1:{port}/0"
    cluster.redis = _spawn("redis", argv, cluster.workdir / "logs" / "redis.log", url)
    wait_port(port, proc=cluster.redis.proc)
    cluster.redis_url = url


def node_env(cluster: Cluster, index: int, port: int, log_level: str) -> dict[str, str]:
    data = cluster.workdir / f"node-{index}"
    data.mkdir(mode=0o700)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "PYTHONUNBUFFERED": "1",
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_DATA_DIR": str(data),
        # one directory for every node's attachments: a file uploaded through one node
        # is downloaded through another (each data directory is the node's own)
        "GATEWAY_BLOB_URL": f"file://{cluster.workdir / 'blobs'}",
        "GATEWAY_DATABASE_URL": cluster.database_url,
        "GATEWAY_REDIS_URL": cluster.redis_url,
        "GATEWAY_SECRET_KEY": cluster.secret_key,
        "GATEWAY_PUBLIC_URL": cluster.public_url,
        "GATEWAY_DEMO": "true",
        "GATEWAY_LOG_LEVEL": log_level,
        "GATEWAY_DRAIN_TIMEOUT": str(DRAIN_TIMEOUT),
        "GATEWAY_TRUSTED_PROXIES": "127.0.0.1",  # nginx
    }


def start_node(cluster: Cluster, index: int, port: int, log_level: str) -> None:
    env = node_env(cluster, index, port, log_level)
    node = _spawn(
        f"node-{index}",
        [sys.executable, "-m", "gateway", "serve"],
        cluster.workdir / "logs" / f"node-{index}.log",
        f"http://127.0.0.1:{port}",
        env=env,
        cwd=ROOT,
    )
    cluster.nodes.append(node)
    _wait_http(node, node.url + "/healthz")
    _wait_http(node, node.url + "/readyz")


def nginx_config(prefix: Path, logs: Path, listen_port: int, node_ports: list[int]) -> Path:
    """Write nginx.conf and gateway.conf (the recipe with local ports) under prefix."""
    server_line = re.compile(r"^(\s*)server\s+[\w.-]+:\d+(\s[^;]*)?;\s*$")
    lines: list[str] = []
    servers = 0
    for line in GATEWAY_CONF.read_text().splitlines():
        match = server_line.match(line)
        if match is None:
            lines.append(line)
            continue
        if servers == 0:  # the recipe's servers become the local nodes, same parameters
            indent, params = match.group(1), match.group(2) or ""
            lines += [f"{indent}server 127.0.0.1:{port}{params};" for port in node_ports]
        servers += 1
    if servers == 0:
        raise RuntimeError(f"{GATEWAY_CONF}: no upstream 'server host:port ...;' lines")
    local = "\n".join(lines) + "\n"
    local, listens = re.subn(
        r"^(\s*)listen\s+80;", rf"\1listen 127.0.0.1:{listen_port};", local, flags=re.M
    )
    if listens != 1:
        raise RuntimeError(f"{GATEWAY_CONF}: expected one 'listen 80;' line, found {listens}")
    (prefix / "gateway.conf").write_text(local)
    main = NGINX_TEMPLATE.read_text()
    for name, value in (
        ("PREFIX", prefix),
        ("LOGS", logs),
        ("GATEWAY_CONF", prefix / "gateway.conf"),
    ):
        main = main.replace(f"@{name}@", str(value))
    if "@" in re.sub(r"#.*", "", main):
        raise RuntimeError(f"{NGINX_TEMPLATE}: a placeholder was left unfilled")
    conf = prefix / "nginx.conf"
    conf.write_text(main)
    return conf


def nginx_argv(binary: str, prefix: Path, conf: Path, logs: Path) -> list[str]:
    # -e: the error log before the configuration is read (not /var/log/nginx).
    return [binary, "-p", str(prefix), "-c", str(conf), "-e", str(logs / "nginx-error.log")]


def start_nginx(cluster: Cluster, node_ports: list[int]) -> None:
    binary = _need("nginx", "nginx")
    prefix = cluster.workdir / "nginx"
    (prefix / "temp").mkdir(parents=True)
    logs = cluster.workdir / "logs"
    conf = nginx_config(prefix, logs, cluster.nginx_port, node_ports)
    argv = nginx_argv(binary, prefix, conf, logs)
    check = subprocess.run([*argv, "-t", "-q"], capture_output=True, start_new_session=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{check.stderr.decode(errors='replace')}")
    # Its error log; requests are in nginx-access.log beside it.
    cluster.nginx = _spawn("nginx", argv, logs / "nginx-error.log", cluster.public_url)
    _wait_http(cluster.nginx, cluster.public_url + "/healthz")


def start_cluster(cluster: Cluster, nodes: int, *, log_level: str = "info") -> None:
    """Start everything into ``cluster``; the caller stops it, whatever happened."""
    node_ports = [cluster.nginx_port + i for i in range(1, nodes + 1)]
    busy = [p for p in (cluster.nginx_port, *node_ports) if not port_free(p)]
    if busy:
        raise RuntimeError(f"port(s) {busy} on 127.0.0.1 are in use: pick another with --port")
    _pg_bindir()  # fail before starting anything when a binary is missing
    _need("redis-server", "redis-server")
    _need("nginx", "nginx")
    # The postgres user and nginx's workers (nobody, when root) go through this directory.
    cluster.workdir.chmod(0o755)
    (cluster.workdir / "logs").mkdir()
    avoid = [cluster.nginx_port, *node_ports]
    start_postgres(cluster, _spare_port(avoid))
    start_redis(cluster, _spare_port(avoid))
    # One after the other: the first node runs the migrations and seeds the demo.
    for index, port in enumerate(node_ports, 1):
        start_node(cluster, index, port, log_level)
    start_nginx(cluster, node_ports)


def _spare_port(avoid: list[int]) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in avoid:
            return port


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)


# ---------------------------------------------------------------- while it runs

COMMANDS = "status | kill N | restart N | restart | stop | help"
HELP = """\
  status      every process: up, or how it exited; its pid and address
  kill N      SIGKILL node N (a crash): the others keep serving through nginx
  restart N   start node N again on its port (a running node drains first, SIGTERM)
  restart     start every dead node again (SIGUSR1 does the same)
  stop        stop everything (as Ctrl-C does)
  help        this list"""
POLL = 0.5  # seconds between two looks at the children


class Console:
    """Operator commands, one a line, read from stdin when it is a terminal or a pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = b""
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            self.open = False
        else:
            self.open = os.isatty(fd) or stat.S_ISFIFO(mode)

    def _readable_now(self) -> bool:
        if not self.open:
            return False
        if os.isatty(self.fd):
            # A background job reading its terminal gets stopped (SIGTTIN): read it only
            # while in the foreground; 'fg' brings the commands back.
            try:
                return os.tcgetpgrp(self.fd) == os.getpgrp()
            except OSError:
                return False
        return True

    def lines(self, timeout: float) -> list[str]:
        """The commands that come within ``timeout`` seconds (waits that long if none)."""
        if not self._readable_now():
            time.sleep(timeout)
            return []
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        try:
            chunk = os.read(self.fd, 4096)
        except BlockingIOError:
            return []
        except OSError as exc:
            print(f"cluster: reading stdin: {exc}", file=sys.stderr)
            chunk = b""
        if not chunk:  # end of input: the cluster runs on, without commands
            self.open = False
            chunk, self.pending = self.pending + b"\n", b""
            print(
                "cluster: end of input on stdin: no more commands "
                "(Ctrl-C or SIGTERM stops everything, SIGUSR1 starts dead nodes again)"
            )
        self.pending += chunk
        *complete, self.pending = self.pending.split(b"\n")
        return [line.decode(errors="replace").strip() for line in complete if line.strip()]


@dataclass
class Supervisor:
    """Watches the children, reports the ones that exit, runs the operator's commands."""

    cluster: Cluster
    console: Console
    restart_requested: bool = False  # SIGUSR1

    def on_sigusr1(self, signum: int, frame: FrameType | None) -> None:
        self.restart_requested = True

    def run(self) -> int:
        """Until the cluster cannot go on (then 1); a signal or 'stop' raises Stop."""
        while True:
            reason = self.check()
            if reason is not None:
                print(f"cluster: {reason}: stopping everything", file=sys.stderr)
                return 1
            if self.restart_requested:
                self.restart_requested = False
                print("cluster: SIGUSR1: starting every dead node again")
                self.restart_dead()
            for line in self.console.lines(POLL):
                self.command(line)

    def check(self) -> str | None:
        """Announce what exited since the last look; why to stop everything, or None."""
        cluster = self.cluster
        for service in (cluster.postgres, cluster.redis, cluster.nginx):
            if service is not None and not service.alive():
                self.announce(service)
                return f"the nodes cannot serve without {service.name}"
        dead = [node for node in cluster.nodes if not node.alive() and not node.reported]
        for node in dead:
            self.announce(node)
        survivors = [node.name for node in cluster.nodes if node.alive()]
        if not survivors:
            return "no gateway node is left"
        for node in dead:
            number = node.name.removeprefix("node-")
            how = f"type 'restart {number}' or " if self.console.open else ""
            print(
                f"cluster: {', '.join(survivors)} {'keeps' if len(survivors) == 1 else 'keep'}"
                f" serving through nginx on {cluster.public_url}; nginx passes over"
                f" {node.name} while it is down.\n"
                f"cluster: to start {node.name} again on its port: {how}"
                f"kill -USR1 {os.getpid()} (starts every dead node again)."
            )
        return None

    def announce(self, service: Service) -> None:
        service.reported = True
        tail = "\n".join(f"    | {line}".rstrip() for line in service.tail(20).splitlines())
        print(
            f"\ncluster: {service.name} (pid {service.pid}, {service.url})"
            f" {describe_exit(service.proc.returncode)}. The end of {service.log}:\n{tail}",
            file=sys.stderr,
        )

    def restart(self, node: Service) -> None:
        try:
            self.cluster.restart_node(node)
        except TimeoutError as exc:  # still starting: the next looks will tell
            print(f"cluster: {exc}; see {node.log}", file=sys.stderr)
        except (RuntimeError, OSError) as exc:  # it exited while starting
            node.reported = True
            print(f"cluster: {node.name} did not start: {exc}", file=sys.stderr)
        else:
            print(
                f"cluster: {node.name} is back: pid {node.pid}, {node.url}; nginx routes to it"
                " again (at the latest when its fail_timeout is over)"
            )

    def restart_dead(self) -> None:
        dead = [node for node in self.cluster.nodes if not node.alive()]
        if not dead:
            print("cluster: every node is up")
        for node in dead:
            self.restart(node)

    def command(self, line: str) -> None:
        verb, *args = line.split()
        try:
            match verb.lower(), args:
                case (("help" | "?"), []):
                    print(f"cluster: commands:\n{HELP}")
                case "status", []:
                    print(f"cluster: status:\n{self.cluster.status()}")
                case "stop", []:
                    raise Stop("stop")
                case "kill", [ref]:
                    node = self.cluster.node(ref)
                    if not node.alive():
                        print(f"cluster: {node.name} is not running: it {node.state()}")
                        return
                    print(f"cluster: killing {node.name} (pid {node.pid}) with SIGKILL")
                    node.kill()
                    node.wait(10)  # the next look announces it
                case "restart", []:
                    self.restart_dead()
                case "restart", [ref]:
                    self.restart(self.cluster.node(ref))
                case _:
                    print(f"cluster: unknown command {line!r}; commands: {COMMANDS}")
        except LookupError as exc:
            print(f"cluster: {exc.args[0]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/cluster", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("nodes", nargs="?", type=int, default=2, help="gateway nodes (1-9)")
    parser.add_argument(
        "--port", type=int, default=8000, help="nginx's port; the nodes take the next N ports"
    )
    parser.add_argument("--keep", action="store_true", help="keep the directory with the logs")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    args = parser.parse_args(argv)
    if not 1 <= args.nodes <= 9:
        parser.error("between 1 and 9 nodes")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="gw-cluster-"))
    cluster = Cluster(workdir, args.port, secrets.token_urlsafe(48))
    supervisor = Supervisor(cluster, Console(sys.stdin.fileno()))
    signal.signal(signal.SIGUSR1, supervisor.on_sigusr1)
    status = 0
    try:
        print(f"cluster: starting {args.nodes} node(s) in {workdir}", flush=True)
        start_cluster(cluster, args.nodes, log_level=args.log_level)
        if supervisor.console.open:
            commands = f"Commands (type them here): {COMMANDS}\n"
        else:
            commands = "No commands: stdin is neither a terminal nor a pipe.\n"
        print(
            f"\nCluster ready: {cluster.public_url} (nginx in front of {args.nodes} nodes)\n"
            f"  demo page (the visitor):  {cluster.public_url}/demo\n"
            f"  agent console:            {cluster.public_url}/console"
            "  (agent@demo.test / demo-agent)\n"
            f"  database:                 {cluster.database_url}\n"
            f"  redis:                    {cluster.redis_url}\n"
            f"{cluster.summary()}\n"
            "A node that exits leaves the others serving; the last node, PostgreSQL, Redis"
            " or nginx exiting stops everything.\n"
            f"{commands}"
            f"kill -USR1 {os.getpid()} starts every dead node again.\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        status = supervisor.run()
    except Stop as exc:
        print(f"\ncluster: {exc}: stopping", flush=True)
    except (ServiceMissing, RuntimeError, TimeoutError, OSError) as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        status = 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(signum, signal.SIG_IGN)
        cluster.stop()
        if args.keep:
            print(f"cluster: logs kept in {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("cluster: stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
