"""Run by tests/gateway/test_cyclic_garbage.py in a process of its own: the real gateway
(``gateway serve``'s uvicorn server, on uvloop, with the demo data) serving clients in
the same process, and what the server's connections leave to the garbage collector.

Each round is what a page view and an agent's visit cost a node: an HTTP request on a
connection of its own, a visitor's bootstrap, socket, conversation (routed to the
agent), message and close, a socket closed before its hello, one whose hello is
refused, and an agent's socket opened and closed. After a warm-up round, the collector
saves what it finds (``gc.DEBUG_SAVEALL``) over ``ROUNDS`` rounds; the probe prints, as
JSON, the server's objects among it by type. The clients (httpx, websockets' client)
share the process, so the server's objects are told apart by their module, and
transports by their local port.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import shutil
import sys
import tempfile
from typing import Any

import uvicorn
import uvloop
from websockets.exceptions import ConnectionClosed

from devkit.services import SECRET_KEY, TEST_LIMITS, Listening, free_port, serving
from gateway.app import create_app
from gateway.cli import build_server
from gateway.settings import load_settings
from tests.gateway.client import AgentClient, Visitor
from tests.gateway.conftest import AGENT

ROUNDS = 10
BOUND = 60.0  # seconds: a loaded machine's closes
SERVER_MODULES = ("gateway", "channels", "routing", "uvicorn", "starlette", "httptools")


async def one_round(node: Listening, agent: AgentClient) -> None:
    async with node.http() as http:
        (await http.get("/healthz")).raise_for_status()
    visitor = Visitor(node, "tp_demo_127", f"{node.base_url}/demo", origin=node.base_url)
    await visitor.bootstrap()
    await visitor.connect()
    await visitor.start(name="Probe")
    await visitor.say("a second message")
    assert visitor.sock is not None
    await visitor.sock.close()
    # gone before its hello
    ws = await node.websocket("/ws/visitor", origin=node.base_url)
    await ws.close()
    # a hello refused (a token that is not one)
    ws = await node.websocket("/ws/visitor", origin=node.base_url)
    await ws.send(json.dumps({"type": "hello", "v": 1, "token": "not-a-token"}))
    try:
        while True:
            await ws.recv()
    except ConnectionClosed:
        pass
    # an agent's socket, opened and closed
    await agent.connect()
    assert agent.sock is not None
    await agent.sock.close()


async def quiet(server: uvicorn.Server) -> None:
    """Until the server holds no connection and runs no request or session: every
    close the clients made has been seen to its end on the server's side."""
    state = server.server_state
    async with asyncio.timeout(BOUND):
        while state.connections or state.tasks:
            if state.tasks:
                await asyncio.wait(set(state.tasks))
            else:
                await asyncio.sleep(0.01)  # a close under way: no task to wait on


def server_garbage(port: int) -> dict[str, int]:
    found: collections.Counter[str] = collections.Counter()
    for obj in gc.garbage:
        kind = type(obj)
        if kind.__name__ == "TCPTransport":
            try:
                mine = obj.get_extra_info("sockname")[1] == port
            except (TypeError, IndexError, AttributeError):
                mine = False  # its address gone: the server's protocols count it anyway
            if mine:
                found["TCPTransport"] += 1
        elif kind.__module__.split(".")[0] in SERVER_MODULES:
            found[f"{kind.__module__}.{kind.__qualname__}"] += 1
        elif kind.__name__ in ("coroutine", "Task"):
            code = obj.get_coro().cr_code if kind.__name__ == "Task" else obj.cr_code
            if any(f"/{m}/" in code.co_filename for m in SERVER_MODULES):
                found[f"{kind.__name__} {code.co_qualname}"] += 1
    return dict(found)


async def main() -> dict[str, Any]:
    port = free_port()
    data = tempfile.mkdtemp(prefix="gw-garbage-")
    settings = load_settings(
        {
            **TEST_LIMITS,
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port),
            "GATEWAY_DATA_DIR": data,
            "GATEWAY_DATABASE_URL": f"sqlite:///{data}/gateway.db",
            "GATEWAY_SECRET_KEY": SECRET_KEY,
            "GATEWAY_LOG_LEVEL": "warning",
            "GATEWAY_DEMO": "1",
        }
    )
    server = build_server(create_app(settings), settings)
    task = await serving(server)
    node = Listening(port)
    agent = AgentClient(node, *AGENT)
    try:
        await agent.login()
        await one_round(node, agent)  # what a first round makes once (caches, pools)
        await quiet(server)
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        for _ in range(ROUNDS):
            await one_round(node, agent)
        await quiet(server)  # the server's side of the last closes
        gc.collect()
        found = server_garbage(port)
        total = len(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        server.should_exit = True
        await task
        shutil.rmtree(data, ignore_errors=True)
    return {"rounds": ROUNDS, "garbage": total, "server": found}


if __name__ == "__main__":
    # the server's loop, as `gateway serve` runs it
    result = uvloop.run(main())
    json.dump(result, sys.stdout)
