"""Real servers for the tests, the benchmarks and scripts/cluster: PostgreSQL, Redis,
Dovecot (IMAP, for the email channel), an S3-compatible object store (moto in server
mode) and the gateway itself.

Each is started from its real binary in a temporary directory on a free loopback port
and stopped at the end. A missing binary is an error with the package to install, never
a silent skip: ./scripts/test installs them, and CI must run these tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import grp
import imaplib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "test-secret-key-0123456789abcdef-0123456789"
"""The gateways' GATEWAY_SECRET_KEY, so tests can forge tokens to see them refused."""


class ServiceMissing(RuntimeError):
    pass


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 10
) -> int:
    """Signal a server to stop and wait for it; killed if it has not ended within
    ``timeout`` s. Its exit status (nothing is sent to one already ended)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """``n`` different ports free now. Asked for one at a time, a port the kernel handed
    out and got back at once may be handed out again: two servers started together were
    given the same port (a browser test's gateway and one of its emulators). Holding each
    socket until all are chosen keeps them apart."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(n):
            s = held.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def wait_port(
    port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _pg_bindir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise ServiceMissing(
        "PostgreSQL server binaries not found (initdb, postgres): "
        "install the Debian package 'postgresql' (./scripts/test does)"
    )


@dataclass
class Postgres:
    dsn: str
    port: int
    datadir: Path
    proc: subprocess.Popen[bytes]
    user: str | None
    bindir: Path

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGINT, 15)  # SIGINT: PostgreSQL's fast shutdown


def _postgres_command(
    bindir: Path, datadir: Path, port: int, sockets: Path, settings: dict[str, str] | None = None
) -> list[str]:
    # Durability off: the tests' database is thrown away, and fsync only slows them.
    return [
        str(bindir / "postgres"), "-D", str(datadir), "-p", str(port), "-k", str(sockets),
        "-h", "127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
        "-c", "full_page_writes=off", "-c", "max_connections=200",
        *(a for k, v in (settings or {}).items() for a in ("-c", f"{k}={v}")),
    ]  # fmt: skip


def _redis_command(binary: str, port: int, workdir: str) -> list[str]:
    # No persistence: a restarted Redis comes back empty, as after a crash without saving.
    return [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", workdir, "--daemonize", "no", "--protected-mode", "no",
    ]  # fmt: skip


def start_postgres(settings: dict[str, str] | None = None) -> Postgres:
    """A PostgreSQL server in a temporary directory; ``settings``: more server settings
    (``-c name=value``), e.g. ``shared_preload_libraries`` for pg_stat_statements."""
    bindir = _pg_bindir()
    tmp = Path(tempfile.mkdtemp(prefix="gw-pg-"))
    datadir = tmp / "data"
    # PostgreSQL refuses to run as root: run it as the 'postgres' system user then.
    user = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServiceMissing(
                "running as root needs the 'postgres' user (Debian's package)"
            ) from exc
        user = "postgres"
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "gateway",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        check=True,
        capture_output=True,
        user=user,
    )
    port = free_port()
    proc = subprocess.Popen(
        _postgres_command(bindir, datadir, port, tmp, settings),
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "postgres.log", "wb"),
        user=user,
    )
    wait_port(port, proc=proc)
    # The server listens before it accepts logins; wait until createdb succeeds.
    deadline = time.monotonic() + 20
    while True:
        r = subprocess.run(
            [
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "gateway",
                "gateway",
            ],
            capture_output=True,
            user=user,
        )
        if r.returncode == 0 or b"already exists" in r.stderr:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"createdb failed: {r.stderr.decode()}")
        time.sleep(0.1)
    return Postgres(
        f"postgresql://gateway@127.0.0.1:{port}/gateway", port, datadir, proc, user, bindir
    )


def createdb(pg: Postgres, name: str) -> str:
    subprocess.run(
        [str(pg.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "gateway", name],
        check=True,
        capture_output=True,
        user=pg.user,
    )
    return f"postgresql://gateway@127.0.0.1:{pg.port}/{name}"


@dataclass
class Redis:
    url: str
    port: int
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.proc)


def start_redis() -> Redis:
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceMissing(
            "redis-server not found: install the Debian package 'redis-server' (./scripts/test does)"
        )
    tmp = tempfile.mkdtemp(prefix="gw-redis-")
    port = free_port()
    proc = subprocess.Popen(
        _redis_command(binary, port, tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(port, proc=proc)
    return Redis(f"redis://127.0.0.1:{port}/0", port, proc)


# Credentials the S3 server accepts (moto takes any); the gateway reads them from the
# usual AWS variables.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "gateway-test",
    "AWS_SECRET_ACCESS_KEY": "gateway-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    """moto's S3 in server mode: a real HTTP server speaking the S3 API."""

    endpoint: str
    port: int
    proc: subprocess.Popen[bytes]

    def url(self, bucket: str, prefix: str = "") -> str:
        """A GATEWAY_BLOB_URL for a bucket on this server."""
        return f"s3://{bucket}/{prefix}?endpoint={self.endpoint}"

    def create_bucket(self, bucket: str) -> None:
        import boto3  # dev dependency: the tests' own S3 client

        client = boto3.client("s3", endpoint_url=self.endpoint, **_boto_env())
        client.create_bucket(Bucket=bucket)

    def keys(self, bucket: str) -> list[str]:
        """Every object key in a bucket (a test looks for what is left)."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, **_boto_env())
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    @staticmethod
    def bucket_of(blob_url: str) -> str:
        """The bucket of a GATEWAY_BLOB_URL made by ``url``."""
        return blob_url.removeprefix("s3://").split("/", 1)[0]

    def stop(self) -> None:
        stop_process(self.proc)


def _boto_env() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_ENV["AWS_DEFAULT_REGION"],
    }


def start_s3() -> S3Server:
    try:
        import flask  # noqa: F401 - moto's server mode needs it
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise ServiceMissing(
            f"moto's S3 server cannot run ({exc}): install the dev dependencies "
            "(pip install -e '.[dev]': moto[s3], flask, flask-cors)"
        ) from exc
    os.environ.update(S3_ENV)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **S3_ENV},
    )
    wait_port(port, proc=proc)
    return S3Server(f"http://127.0.0.1:{port}", port, proc)


async def serving(server: uvicorn.Server) -> asyncio.Task[None]:
    """``server.serve()`` on this loop as a task, returned once the server listens; the
    server's error if it ends first."""
    task = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn sets a flag, with nothing to await
        if task.done():
            task.result()
            raise RuntimeError("the server ended before it listened")
        await asyncio.sleep(0.01)
    return task


@dataclass
class Listening:
    """devkit.endpoint.Endpoint for a gateway listening on 127.0.0.1:``port``, reached
    over real sockets (a process of its own, or a server in the test's own process)."""

    port: int
    base_url: str = field(init=False)
    ws_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return True  # a server in this process: its task says more (a process: below)

    def http(
        self, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0
    ) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout)

    async def websocket(
        self, path: str, *, origin: str | None = None, headers: Mapping[str, str] | None = None
    ) -> ClientConnection:
        return await connect(
            self.ws_url + path,
            origin=None if origin is None else Origin(origin),
            additional_headers=None if headers is None else dict(headers),
        )


@dataclass
class GatewayProcess(Listening):
    """A real gateway: uvicorn in its own process, as an operator runs it."""

    proc: subprocess.Popen[bytes]
    env: dict[str, str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        return stop_process(self.proc, sig, timeout)


# Every test client comes from 127.0.0.1: the per-address login and connection limits
# have tests of their own (tests/security/test_abuse.py) that set them.
TEST_LIMITS = {
    "GATEWAY_LOGINS_PER_IP_PER_MINUTE": "0",
    "GATEWAY_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR": "0",
    "GATEWAY_MAX_CONNECTIONS_PER_IP": "0",
}


def start_gateway(
    env: dict[str, str], *, port: int | None = None, source: Path | None = None
) -> GatewayProcess:
    """A gateway process; ``source``: run the code of that checkout instead of this one
    (a benchmark's before and after in one sitting). A port the caller did not choose
    is tried again once another process took it between ``free_port()`` and the bind."""
    if port is not None:
        return _start_gateway(env, port, source)  # PortTaken, a RuntimeError, says why
    for _ in range(3):
        with contextlib.suppress(PortTaken):
            return _start_gateway(env, free_port(), source)
    raise RuntimeError("three free ports in a row were taken before the gateway bound them")


class PortTaken(RuntimeError):
    """The gateway could not bind its port: another process took it."""


def _start_gateway(env: dict[str, str], port: int, source: Path | None) -> GatewayProcess:
    tmp = Path(tempfile.mkdtemp(prefix="gw-node-"))
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_DATA_DIR": str(tmp),
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp}/gateway.db",
        "GATEWAY_SECRET_KEY": SECRET_KEY,
        "GATEWAY_LOG_LEVEL": "warning",
        **TEST_LIMITS,
        **env,
    }
    # Ready is this process answering: another one that took the port between
    # free_port() and the bind (a cluster test's node) answered /healthz, and the test
    # talked to it. Its own node id tells them apart (a new one at each start, as the
    # default: not kept in ``env``, so a restart from it gets another).
    node_id = full.get("GATEWAY_NODE_ID") or f"test-{os.urandom(6).hex()}"
    log = tmp / "gateway.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve"],
        env={**full, "GATEWAY_NODE_ID": node_id},
        cwd=source or ROOT,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    node = GatewayProcess(port, proc, full, log)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            if proc.returncode == 3 and "cannot listen" in node.output():
                raise PortTaken(f"port {port} is another process's:\n{node.output()}")
            raise RuntimeError(f"gateway exited with {proc.returncode}:\n{node.output()}")
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(node.base_url + "/readyz", timeout=1) as r:
                if r.status == 200 and json.load(r).get("node") == node_id:
                    return node
        if time.monotonic() > deadline:
            node.stop(signal.SIGKILL)
            raise TimeoutError(f"gateway did not become ready:\n{node.output()}")
        time.sleep(0.05)


# A login checks its password at a lower CPU priority (gateway/auth.py): on a busy
# machine that takes seconds, more than httpx's default of 5.
LOGIN_TIMEOUT = 30.0


def login_token(base_url: str, email: str, password: str) -> str:
    """A bearer token for the HTTP API (``POST /api/login``)."""
    r = httpx.post(
        base_url + "/api/login",
        json={"email": email, "password": password},
        timeout=LOGIN_TIMEOUT,
    )
    if r.status_code != 200:
        raise RuntimeError(f"login as {email} failed: {r.status_code} {r.text}")
    return str(r.json()["token"])


@contextlib.contextmanager
def running_gateway(env: dict[str, str]) -> Iterator[GatewayProcess]:
    node = start_gateway(env)
    try:
        yield node
    finally:
        node.stop()


def restart_postgres(pg: Postgres) -> None:
    """Start a stopped PostgreSQL again on the same data directory and port."""
    tmp = pg.datadir.parent
    pg.proc = subprocess.Popen(
        _postgres_command(pg.bindir, pg.datadir, pg.port, tmp),
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "postgres.log", "ab"),
        user=pg.user,
    )
    wait_port(pg.port, proc=pg.proc)


def restart_redis(server: Redis) -> None:
    """Start a new, empty Redis on the port of one that was stopped."""
    binary = shutil.which("redis-server")
    assert binary
    tmp = tempfile.mkdtemp(prefix="gw-redis-")
    server.proc = subprocess.Popen(
        _redis_command(binary, server.port, tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_port(server.port, proc=server.proc)


# -- Dovecot: a real IMAP server for the email channel -------------------------------------

_DOVECOT_CONF = """
protocols = imap
listen = 127.0.0.1
base_dir = {tmp}/run
state_dir = {tmp}/state
log_path = {tmp}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login{mechanisms}
mail_location = maildir:{tmp}/mail/%u
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 0
first_valid_gid = 0
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u {tmp}/passwd
}}
{oauth2}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={tmp}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
"""


# SASL XOAUTH2 / OAUTHBEARER checked by Dovecot's oauth2 passdb against an RFC 7662
# token introspection endpoint (POST token=...; {"active": true, "username": login}).
_DOVECOT_OAUTH2 = """
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {tmp}/oauth2.conf.ext
}}
"""
_DOVECOT_OAUTH2_EXT = """introspection_mode = post
introspection_url = {url}
username_attribute = username
active_attribute = active
active_value = true
"""


@dataclass
class Dovecot:
    """Dovecot's IMAP server on loopback (plain IMAP: the gateway allows unencrypted
    connections to loopback hosts only), with mailboxes added by :meth:`add_user`."""

    port: int
    tmp: Path
    binary: str
    proc: subprocess.Popen[bytes] | None = None

    def add_user(self, user: str, password: str) -> None:
        """Add a mailbox and return once Dovecot accepts its login: Dovecot re-reads its
        passwd-file at most once a second, so a login in the same second as the last
        lookup would be refused."""
        with open(self.tmp / "passwd", "a") as f:
            f.write(f"{user}:{{PLAIN}}{password}\n")
        deadline = time.monotonic() + 30
        while True:
            try:
                with imaplib.IMAP4("127.0.0.1", self.port, timeout=10) as client:
                    client.login(user, password)
                    return
            except imaplib.IMAP4.error:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def start(self) -> None:
        run = self.tmp / "run"
        shutil.rmtree(run, ignore_errors=True)
        run.mkdir()
        self.proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.tmp / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.tmp / "dovecot.stderr", "ab"),
        )
        wait_port(self.port, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=15)

    def log(self) -> str:
        path = self.tmp / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def start_dovecot(oauth2_introspection_url: str = "") -> Dovecot:
    """Dovecot on a free loopback port; with ``oauth2_introspection_url`` it also accepts
    XOAUTH2 and OAUTHBEARER logins, each token checked at that URL (RFC 7662); the
    passwd-file's passwords still log in with PLAIN and LOGIN."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        raise ServiceMissing(
            "dovecot not found: install the Debian package 'dovecot-imapd' (./scripts/test does)"
        )
    tmp = Path(tempfile.mkdtemp(prefix="gw-dovecot-"))
    (tmp / "mail").mkdir()
    (tmp / "state").mkdir()
    (tmp / "passwd").touch()
    if os.geteuid() == 0:
        # Dovecot's login processes refuse to run as root: its own users then.
        try:
            internal = pwd.getpwnam("dovecot")
            pwd.getpwnam("dovenull")
        except KeyError as exc:
            raise ServiceMissing("running as root needs Debian's 'dovecot' users") from exc
        names = ("dovecot", "dovecot", "dovenull")
        uid, gid = internal.pw_uid, internal.pw_gid
        os.chmod(tmp, 0o755)
        for path in (tmp / "mail", tmp / "state"):
            os.chown(path, uid, gid)
    else:
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        names = (user, group, user)
        uid, gid = os.getuid(), os.getgid()
    port = free_port()
    if oauth2_introspection_url:
        (tmp / "oauth2.conf.ext").write_text(
            _DOVECOT_OAUTH2_EXT.format(url=oauth2_introspection_url)
        )
    (tmp / "dovecot.conf").write_text(
        _DOVECOT_CONF.format(
            mechanisms=" xoauth2 oauthbearer" if oauth2_introspection_url else "",
            oauth2=_DOVECOT_OAUTH2.format(tmp=tmp) if oauth2_introspection_url else "",
            tmp=tmp,
            internal=names[0],
            internal_group=names[1],
            login=names[2],
            uid=uid,
            gid=gid,
            port=port,
        )
    )
    server = Dovecot(port, tmp, binary)
    server.start()
    return server
