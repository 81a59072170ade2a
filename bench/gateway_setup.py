"""What every gateway benchmark sets up: the machine's description, a store seeded with
a queue, an auto-accepting chat touchpoint and its agents, the gateway's environment for
benchmarks, and conversations started and assigned through real sockets."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.loadgen import Fleet

TOUCHPOINT = "tp_bench"
QUEUE = "q_bench"
SHOP = "https://shop.bench.test"
PASSWORD = "bench-password"


# -- the machine ---------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return {
        "cores": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "open_files_limit": loadgen.raise_nofile(),
    }


# -- a gateway set up for benchmarks -------------------------------------------------


# The call made in BENCH_GATEWAY_SOURCE's checkout (in_source): the function by its module
# and name, its arguments as JSON; the answer in a list, so that None says it ran there.
_THERE = (
    "import importlib, json, sys; "
    "f = getattr(importlib.import_module(sys.argv[1]), sys.argv[2]); "
    "print(json.dumps([f(*json.loads(sys.argv[3]))]))"
)


def in_source(function: Callable[..., Any], *args: Any) -> list[Any] | None:
    """With ``BENCH_GATEWAY_SOURCE``, call ``function(*args)`` as that checkout has it
    (its module, its name; arguments and answer as JSON), in a process on its code, which
    then opens the store; ``[answer]``, or None without it. A store opened by this
    checkout's code is migrated to this checkout's schema, which the other checkout's
    nodes would refuse to start on."""
    source = os.environ.get("BENCH_GATEWAY_SOURCE")
    if not source:
        return None
    done = subprocess.run(
        [sys.executable, "-c", _THERE, function.__module__, function.__name__, json.dumps(args)],
        cwd=source,  # its code first on sys.path, as start_gateway runs it
        env={k: v for k, v in os.environ.items() if k != "BENCH_GATEWAY_SOURCE"},
        check=True,
        capture_output=True,
        text=True,
    )
    answer: list[Any] = json.loads(done.stdout.splitlines()[-1])
    return answer


def seed_store(database_url: str, agents: int, per_agent: int) -> list[tuple[str, str]]:
    """Write a queue, an auto-accepting chat touchpoint for ``SHOP``, ``agents`` agents and
    the chat weight (100 / per_agent) into a store before any gateway starts on it.
    Returns the agents' (email, password).

    With ``BENCH_GATEWAY_SOURCE`` the other checkout's code writes them: opening the
    store migrates the database, and a schema newer than its own (a migration of this
    branch) would make that checkout's nodes refuse to start."""
    there = in_source(seed_store, database_url, agents, per_agent)
    if there is not None:
        return [(email, password) for email, password in there[0]]
    from devkit.passwords import cheap_hash
    from gateway.model.records import Agent, FormField, GlobalSettings, Queue, Touchpoint
    from gateway.ports.store import create_store

    weight = max(1, 100 // per_agent)
    password_hash = cheap_hash(PASSWORD)
    creds = [(f"bench{i}@bench.test", PASSWORD) for i in range(agents)]

    async def write() -> None:
        store = create_store(database_url)
        await store.open()
        try:
            settings = GlobalSettings()
            await store.put_settings(
                GlobalSettings(channel_weights={**settings.channel_weights, "chat": weight})
            )
            await store.put_queue(Queue(id=QUEUE, name="Bench"))
            await store.put_touchpoint(
                Touchpoint(
                    id=TOUCHPOINT,
                    name="Bench shop",
                    channel="chat",
                    active=True,
                    routing_mode="flow",
                    domain=SHOP.removeprefix("https://"),
                    queue_ids=[QUEUE],
                    flow={"default": {"queue_ids": [QUEUE], "priority": 1, "acceptance": "auto"}},
                    form=[FormField(name="name", label="Your name", max_length=80)],
                    created_at=time.time(),
                )
            )
            for i, (email, _) in enumerate(creds):
                await store.put_agent(
                    Agent(
                        id=f"ag_bench{i}",
                        email=email,
                        name=f"Agent {i}",
                        queue_ids=[QUEUE],
                        password_hash=password_hash,
                    )
                )
        finally:
            await store.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, write()).result()
    return creds


# Every limiter of docs/security.md#limits counts and checks as it does by default, each
# limit raised above what a benchmark does from its one address (all its sockets come
# from 127.0.0.1, an agent socket sends hundreds of frames a second): the checks cost
# what they cost in production, and nothing is refused. A limit's size does not change
# the cost of its check (a sliding window counter: two integers per key).
RATE_LIMITS_ON = {
    "GATEWAY_FRAMES_PER_MINUTE": "100000000",
    "GATEWAY_CONNECTIONS_PER_IP_PER_HOUR": "100000000",
    "GATEWAY_CONVERSATIONS_PER_IP_PER_HOUR": "100000000",
    "GATEWAY_CONVERSATIONS_PER_TOUCHPOINT_PER_HOUR": "100000000",
    "GATEWAY_LOGINS_PER_IP_PER_MINUTE": "100000000",
    "GATEWAY_MAX_CONNECTIONS_PER_IP": "100000000",
}
# Every limiter off (0): no check at all.
RATE_LIMITS_OFF = dict.fromkeys(RATE_LIMITS_ON, "0")


def gateway_env(
    database_url: str, redis_url: str = "", rate_limits: bool = False
) -> dict[str, str]:
    """The gateway's environment for a benchmark; ``rate_limits``: every limiter on
    (:data:`RATE_LIMITS_ON`), else off."""
    env = {
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_DEMO": "0",
        "GATEWAY_LOG_LEVEL": "warning",
        # A benchmark agent holds many conversations at high rates: let its queue be deep.
        "GATEWAY_SEND_QUEUE_SIZE": "100000",
        "GATEWAY_SEND_QUEUE_BYTES": str(1 << 30),
        **(RATE_LIMITS_ON if rate_limits else RATE_LIMITS_OFF),
    }
    if redis_url:
        env["GATEWAY_REDIS_URL"] = redis_url
    return env


@contextlib.contextmanager
def sqlite_url() -> Iterator[str]:
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    try:
        yield f"sqlite:///{tmp}/gateway.db"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def gateway_conversations(
    fleet: Fleet,
    nodes: list[tuple[str, int]],
    creds: list[tuple[str, str]],
    conversations: int,
    agent_node: Callable[[int], int] = lambda i: 0,
    visitor_node: Callable[[int], int] = lambda i: 0,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Agents log in and connect; visitors bootstrap, connect and start conversations,
    which the router assigns; returns when every conversation is held by an agent."""
    g = len(fleet)
    t0 = time.monotonic()
    fleet.each(
        "gateway_agents",
        [
            {
                "agents": [
                    [e, p, list(nodes[agent_node(i)])]
                    for i, (e, p) in enumerate(creds)
                    if i % g == k
                ]
            }
            for k in range(g)
        ],
    )
    replies = fleet.each(
        "gateway_visitors",
        [
            {
                "visitors": [
                    [i, list(nodes[visitor_node(i)])] for i in range(conversations) if i % g == k
                ],
                "touchpoint_id": TOUCHPOINT,
                "page_url": SHOP + "/",
                "origin": SHOP,
            }
            for k in range(g)
        ],
    )
    failed = sum(r["failed"] for r in replies)
    if failed:
        raise RuntimeError(
            f"{failed} visitors failed to start: {[f for r in replies for f in r['failures']][:5]}"
        )
    deadline = time.monotonic() + timeout
    while True:
        held = sum(r["held"] for r in fleet.all("status"))
        if held >= conversations:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {held} of {conversations} conversations were assigned")
        time.sleep(0.2)
    return {"setup_s": round(time.monotonic() - t0, 1), "held": held}
