"""`gateway agent add | list | set-password`, run for real as a subprocess on a real
SQLite file and on the session's PostgreSQL: the first admin of an installation without
the demo, who then logs in to a real gateway; the admin API's own rules and exit code 2;
the password from standard input or a terminal's prompt, never echoed; and the running
nodes of a cluster told through Redis (a new agent's console opens on any node, a new
password closes the old one's)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devkit import services
from tests.gateway.client import AgentClient
from tests.poll import until

ROOT = services.ROOT
PASSWORD = "a long first password"


def cli(
    env: dict[str, str], *args: str, stdin: str = PASSWORD + "\n"
) -> subprocess.CompletedProcess[str]:
    """``gateway agent ...`` with standard input a pipe (not a terminal)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway", "agent", *args],
        cwd=ROOT,
        env={**full, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def sqlite_env(tmp: Path) -> dict[str, str]:
    return {"GATEWAY_DATA_DIR": str(tmp), "GATEWAY_DATABASE_URL": f"sqlite:///{tmp}/gateway.db"}


def login(node: services.GatewayProcess, email: str, password: str) -> httpx.Response:
    return httpx.post(
        node.base_url + "/api/login",
        json={"email": email, "password": password},
        timeout=services.LOGIN_TIMEOUT,
    )


def test_the_first_admin_of_an_installation_without_the_demo_logs_in(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    added = cli(
        env, "add", "--email", "Boss@Shop.Example", "--name", " Ann Boss ", "--role", "admin"
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("agent ag_") and "Boss@Shop.Example (admin)" in added.stdout
    # one node, no Redis: nobody to tell, and the command says what that means
    assert "no GATEWAY_REDIS_URL" in added.stderr

    listed = cli(env, "list")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    agent_id, role, state, email, name = line.split("\t")
    assert (role, state, email, name) == ("admin", "active", "Boss@Shop.Example", "Ann Boss")
    assert "$argon2" not in listed.stdout + listed.stderr

    node = services.start_gateway({**env, "GATEWAY_DEMO": "0"})
    try:
        r = login(node, "boss@shop.example", PASSWORD)  # an email's case does not matter
        assert r.status_code == 200, r.text
        assert r.json()["agent"] == {
            "id": agent_id,
            "email": "Boss@Shop.Example",
            "name": "Ann Boss",
            "role": "admin",
            "queue_ids": [],
        }
        token = r.json()["token"]
        agents = httpx.get(
            node.base_url + "/api/admin/agents", headers={"Authorization": f"Bearer {token}"}
        )
        assert agents.status_code == 200
        assert [a["id"] for a in agents.json()] == [agent_id]
        assert agents.json()[0]["has_password"] is True

        # an agent made while the node runs (no Redis to tell it): logs in at once
        later = cli(
            env, "add", "--email", "sup@shop.example", "--name", "Sup", "--role", "supervisor"
        )
        assert later.returncode == 0, later.stderr
        assert login(node, "sup@shop.example", PASSWORD).json()["agent"]["role"] == "supervisor"

        # locked out: a new password from the shell, on the running node's database
        changed = cli(env, "set-password", "--email", "BOSS@shop.example", stdin="second pw 2\n")
        assert changed.returncode == 0, changed.stderr
        assert changed.stdout == "password of Boss@Shop.Example changed; 1 login session(s) ended\n"
        me = httpx.get(node.base_url + "/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401  # the old login ended with the old password
        assert login(node, "boss@shop.example", PASSWORD).status_code == 401
        assert login(node, "boss@shop.example", "second pw 2").status_code == 200
    finally:
        node.stop()


@pytest.fixture(scope="module")
def one_admin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = sqlite_env(tmp_path_factory.mktemp("agents"))
    done = cli(env, "add", "--email", "admin@shop.example", "--name", "Admin", "--role", "admin")
    assert done.returncode == 0, done.stderr
    return env


@pytest.mark.parametrize(
    ("given", "stdin", "problem"),
    [
        (
            {"--email": "ADMIN@shop.example"},
            PASSWORD,
            "  email: this email belongs to another agent: admin@shop.example",
        ),
        ({"--email": "not an email"}, PASSWORD, "  email: 'not an email' is not an email address"),
        ({"--name": " \t "}, PASSWORD, "  name: a name needs a visible character"),
        ({}, "seven!!", "  password: 7 characters: a password has 8 to 1,024 characters"),
        ({"--name": "N" * 201}, PASSWORD, "  name: is longer than 200 characters"),
        ({}, "", "  password: none given"),
        ({"--queue": "q_nope"}, PASSWORD, "  queue_ids: unknown queue id(s): q_nope"),
        ({"--role": "root"}, PASSWORD, "gateway agent add: error: argument --role: invalid"),
    ],
)
def test_bad_input_is_refused_with_the_admin_apis_rules_and_exit_2(
    one_admin: dict[str, str], given: dict[str, str], stdin: str, problem: str
) -> None:
    options = {"--email": "new@shop.example", "--name": "New", **given}
    r = cli(one_admin, "add", *[x for o in options.items() for x in o], stdin=stdin + "\n")
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert any(line.startswith(problem) for line in r.stderr.splitlines()), r.stderr
    assert "Traceback" not in r.stderr
    # nothing written
    listed = cli(one_admin, "list").stdout.splitlines()
    assert [line.split("\t")[3] for line in listed] == ["admin@shop.example"]


def test_every_problem_is_said_at_once_each_in_words(one_admin: dict[str, str]) -> None:
    r = cli(one_admin, "add", "--email", "bad", "--name", " ", "--queue", "q_nope")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "gateway: refused:",
        "  email: 'bad' is not an email address (name@example.com, at most 254 characters)",
        "  name: a name needs a visible character",
        "  queue_ids: unknown queue id(s): q_nope",
    ]
    assert "regex" not in r.stderr and "Expected" not in r.stderr


def test_set_password_refuses_an_unknown_email_and_a_short_password(
    one_admin: dict[str, str],
) -> None:
    nobody = cli(one_admin, "set-password", "--email", "nobody@shop.example")
    assert nobody.returncode == 2
    assert "  email: no agent has the email nobody@shop.example" in nobody.stderr.splitlines()
    short = cli(one_admin, "set-password", "--email", "admin@shop.example", stdin="short\n")
    assert short.returncode == 2
    assert "  password: 5 characters: a password has 8 to 1,024 characters" in (
        short.stderr.splitlines()
    )


def test_the_password_is_never_an_argument(one_admin: dict[str, str]) -> None:
    r = cli(one_admin, "add", "--email", "x@shop.example", "--name", "X", "--password", "pw")
    assert r.returncode == 2 and "unrecognized arguments: --password pw" in r.stderr


def test_an_unreachable_database_is_exit_1(tmp_path: Path) -> None:
    port = services.free_port()
    r = cli({"GATEWAY_DATABASE_URL": f"postgresql://gateway@127.0.0.1:{port}/none"}, "list")
    assert r.returncode == 1
    assert r.stderr.startswith("gateway: cannot use the database: PostgreSQL unavailable")


def test_redis_out_of_reach_leaves_the_agent_made_and_says_the_nodes_were_not_told(
    tmp_path: Path,
) -> None:
    env = {
        **sqlite_env(tmp_path),
        "GATEWAY_REDIS_URL": f"redis://127.0.0.1:{services.free_port()}/0",
        "GATEWAY_SECRET_KEY": services.SECRET_KEY,
    }
    r = cli(env, "add", "--email", "a@shop.example", "--name", "A", "--role", "admin")
    assert r.returncode == 0, r.stderr
    [note] = r.stderr.splitlines()
    assert note.startswith("gateway: note: the running nodes could not be told through Redis")
    assert "a restart" in note
    assert cli(env, "list").stdout.split("\t")[3] == "a@shop.example"


# -- in a terminal ------------------------------------------------------------------------


def _on_a_terminal(env: dict[str, str], args: list[str], answers: list[str]) -> tuple[int, str]:
    """The command on a terminal of its own (a pseudo-terminal), each answer typed at
    the next password prompt: the exit status, and what the terminal showed."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "gateway", "agent", *args], full | env)
    shown = b""
    deadline = time.monotonic() + 60
    pending = list(answers)
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # the child ended and closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
                # getpass shows its prompt once echo is off (typed earlier would be
                # flushed): answer each prompt once it is shown
                prompts = shown.count(b"new password for ") + shown.count(b"the same again: ")
                if pending and prompts > len(answers) - len(pending):
                    os.write(fd, pending.pop(0).encode() + b"\n")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def test_in_a_terminal_the_password_is_typed_twice_and_not_shown(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    args = ["add", "--email", "tty@shop.example", "--name", "Tty", "--role", "admin"]
    code, shown = _on_a_terminal(env, args, ["typed secret 1", "typed secret 2"])
    assert code == 2, shown
    assert "new password for tty@shop.example:" in shown and "the same again:" in shown
    assert "the two passwords differ" in shown and "typed secret" not in shown

    code, shown = _on_a_terminal(env, args, ["typed secret 1", "typed secret 1"])
    assert code == 0, shown
    assert "typed secret" not in shown and "tty@shop.example (admin)" in shown
    node = services.start_gateway({**env, "GATEWAY_DEMO": "0"})
    try:
        assert login(node, "tty@shop.example", "typed secret 1").status_code == 200
    finally:
        node.stop()


# -- a running cluster ----------------------------------------------------------------------


Cluster = tuple[dict[str, str], list[services.GatewayProcess]]


def _two_nodes(postgres: services.Postgres, extra: dict[str, str]) -> Iterator[Cluster]:
    database = services.createdb(postgres, f"cli_agent_{uuid.uuid4().hex[:8]}")
    redis = services.start_redis()
    env = {
        "GATEWAY_DATABASE_URL": database,
        "GATEWAY_REDIS_URL": redis.url,
        "GATEWAY_SECRET_KEY": services.SECRET_KEY,
        "GATEWAY_DEMO": "0",
        **extra,
    }
    nodes: list[services.GatewayProcess] = []
    try:
        for n in (1, 2):
            nodes.append(
                services.start_gateway(
                    {**env, "GATEWAY_NODE_ID": f"n{n}", "GATEWAY_ROUTER_LEASE": "2"}
                )
            )
        yield env, nodes
    finally:
        for node in nodes:
            node.stop()
        redis.stop()


@pytest.fixture
def two_nodes(postgres: services.Postgres) -> Iterator[Cluster]:
    """Two nodes on a new PostgreSQL database and a Redis of their own, no demo: no
    agent at all."""
    yield from _two_nodes(postgres, {})


@pytest.fixture
def two_locking_nodes(postgres: services.Postgres) -> Iterator[Cluster]:
    """:func:`two_nodes` that lock an account after 3 failed logins (counted in their
    Redis), with room for many logins from this one address."""
    yield from _two_nodes(
        postgres,
        {
            "GATEWAY_LOGIN_FAILURES_PER_ACCOUNT_PER_HOUR": "3",
            "GATEWAY_LOGINS_PER_IP_PER_MINUTE": "100",
        },
    )


def _roster(node: services.GatewayProcess, token: str) -> list[str]:
    r = httpx.get(
        node.base_url + "/api/console/agents", headers={"Authorization": f"Bearer {token}"}
    )
    r.raise_for_status()
    return [a["agent_id"] for a in r.json()]


async def test_running_nodes_are_told_of_a_new_agent_and_of_a_new_password(
    two_nodes: Cluster,
) -> None:
    env, nodes = two_nodes
    added = cli(env, "add", "--email", "first@shop.example", "--name", "First", "--role", "admin")
    assert added.returncode == 0, added.stderr
    assert added.stderr == ""  # the nodes were told
    agent_id = added.stdout.split()[1]

    # Every node reloads its configuration: the new admin is in each one's roster (read
    # from its directory, which only a reload fills) and its console opens on both.
    for node in nodes:
        token = services.login_token(node.base_url, "first@shop.example", PASSWORD)
        await until(
            lambda n=node, t=token: agent_id in _roster(n, t),
            what=f"{node.base_url} knows {agent_id}",
        )
    console = AgentClient(nodes[1], "first@shop.example", PASSWORD)
    await console.login()
    snapshot = await console.connect()
    assert snapshot["agent"]["agent_id"] == agent_id

    # A new password from the shell: the node holding the old login's socket closes it.
    changed = cli(env, "set-password", "--email", "first@shop.example", stdin="second pw 2\n")
    assert changed.returncode == 0, changed.stderr
    assert console.sock is not None
    await console.sock.expect_close(timeout=30)
    assert login(nodes[0], "first@shop.example", "second pw 2").status_code == 200
    # the database's listing is the same from anywhere
    [line] = cli(env, "list").stdout.splitlines()
    assert line == f"{agent_id}\tadmin\tactive\tfirst@shop.example\tFirst"


def test_a_new_password_lifts_a_lockout_by_failed_logins_on_every_node(
    two_locking_nodes: Cluster,
) -> None:
    """Locked out by failed logins on one node (counted in Redis: the other refuses too),
    the account logs in on the other node at once with a password set from the shell;
    and again with one an admin sets through the admin API."""
    env, (one, two) = two_locking_nodes
    email = "locked@shop.example"
    added = cli(env, "add", "--email", email, "--name", "Locked", "--role", "admin")
    assert added.returncode == 0, added.stderr
    agent_id = added.stdout.split()[1]

    def lock(password: str) -> None:
        for _ in range(3):
            assert login(one, email, "wrong password").status_code == 401
        refused = login(two, email.upper(), password)  # any case: one account
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "rate_limited"

    lock(PASSWORD)
    changed = cli(env, "set-password", "--email", email, stdin="second pw 2\n")
    assert changed.returncode == 0, changed.stderr
    assert changed.stderr == ""  # cleared in Redis, and the nodes told
    r = login(two, email, "second pw 2")
    assert r.status_code == 200, r.text

    token = r.json()["token"]  # a login made before the lockout outlives it
    lock("second pw 2")
    reset = httpx.patch(
        f"{two.base_url}/api/admin/agents/{agent_id}",
        json={"password": "third pw 3"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reset.status_code == 200, reset.text
    assert login(one, email, "third pw 3").status_code == 200
