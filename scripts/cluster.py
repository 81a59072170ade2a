"""A local multi-node gateway: PostgreSQL, Redis, N gateway nodes and nginx in front.

Run by ./scripts/cluster, which makes the virtual environment first:

    ./scripts/cluster              2 nodes: nginx on 127.0.0.1:8000, nodes on 8001-8002
    ./scripts/cluster 3            3 nodes on 8001-8003
    ./scripts/cluster 2 --port 9000   nginx on 9000, nodes on 9001-9002

Everything listens on 127.0.0.1 and lives in one temporary directory (the logs too),
removed at the end unless --keep. Each server runs in a session of its own, so Ctrl-C
reaches only this script, which then stops them in order: the gateways first with
SIGTERM (they drain), then nginx, Redis and PostgreSQL, and removes the directory.
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
import shutil
import signal
import socket
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
    """One child server, started in a session of its own."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def signal(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(self.stop_signal)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"cluster: {self.name} did not stop in {timeout:.0f}s: killed", file=sys.stderr)
            self.proc.kill()
            return self.proc.wait()

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


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
    with open(log, "ab") as out:
        proc = subprocess.Popen(
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
    return Service(name, proc, log, url, stop_signal)


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
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="gw-cluster-"))
    cluster = Cluster(workdir, args.port, secrets.token_urlsafe(48))
    status = 0
    try:
        print(f"cluster: starting {args.nodes} node(s) in {workdir}", flush=True)
        start_cluster(cluster, args.nodes, log_level=args.log_level)
        print(
            f"\nCluster ready: {cluster.public_url} (nginx in front of {args.nodes} nodes)\n"
            f"  demo page (the visitor):  {cluster.public_url}/demo\n"
            f"  agent console:            {cluster.public_url}/console"
            "  (agent@demo.test / demo-agent)\n"
            f"  database:                 {cluster.database_url}\n"
            f"  redis:                    {cluster.redis_url}\n"
            f"{cluster.summary()}\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        while True:
            dead = [s for s in cluster.services() if not s.alive()]
            if dead:
                for s in dead:
                    print(
                        f"cluster: {s.name} exited with {s.proc.returncode}:\n{s.tail()}",
                        file=sys.stderr,
                    )
                status = 1
                break
            time.sleep(0.5)
    except Stop as exc:
        print(f"\ncluster: {exc}: stopping", flush=True)
    except (ServiceMissing, RuntimeError, TimeoutError, OSError) as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        status = 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
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
