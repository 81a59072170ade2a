"""docs/integration-api.md's worked example runs: each ```sh block is a curl command sent
to a real gateway (the demo agent online, a real receiver at $HOOKS), and the ```http
block after it is the status, the headers named and the JSON expected. "..." is any
value; "$NAME" is any value, kept as $NAME for the blocks after it."""

from __future__ import annotations

import itertools
import json
import re
import shlex
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.client import AgentClient
from tests.gateway.conftest import AGENT
from tests.integration.conftest import Node, admin_client
from tests.integration.receiver import Receiver

DOC = Path(__file__).resolve().parents[2] / "docs" / "integration-api.md"
SECRET = "shop-app-signing-secret-0123456789abcdef"
_BLOCK = re.compile(r"```(sh|http)\n(.*?)```", re.S)
_VAR = re.compile(r"\$([A-Z_]+)")


def examples() -> list[tuple[str, str]]:
    blocks = _BLOCK.findall(DOC.read_text())
    pairs = []
    for (kind, cmd), (next_kind, answer) in itertools.pairwise(blocks):
        if kind == "sh":
            assert next_kind == "http", f"no answer after {cmd!r}"
            pairs.append((cmd, answer))
    return pairs


def expand(text: str, env: dict[str, str]) -> str:
    return _VAR.sub(lambda m: env[m[1]], text)


async def curl(http: httpx.AsyncClient, cmd: str, env: dict[str, str]) -> httpx.Response:
    words = shlex.split(cmd.replace("\\\n", " "))
    assert words[0] == "curl", cmd
    method, url, body = None, None, None
    headers: dict[str, str] = {}
    it = iter(words[1:])
    for w in it:
        if w == "-X":
            method = next(it)
        elif w == "-H":
            name, _, value = next(it).partition(":")
            headers[name.strip()] = expand(value.strip(), env)
        elif w in ("-d", "--json"):
            body = expand(next(it), env)
            headers.setdefault("Content-Type", "application/json")
        elif not w.startswith("-"):
            url = expand(w, env)
    assert url, cmd
    return await http.request(
        method or ("POST" if body else "GET"), url, content=body, headers=headers
    )


def match(expected: Any, actual: Any, env: dict[str, str], where: str = "$") -> None:
    if isinstance(expected, str) and expected.startswith("$") and expected[1:].isupper():
        env[expected[1:]] = env.get(expected[1:], actual)
        assert actual == env[expected[1:]], f"{where}: {actual!r} is not {expected}"
        return
    if expected == "...":
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} missing in {actual!r}"
            match(value, actual[key], env, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(expected) == len(actual), f"{where}: {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            match(e, a, env, f"{where}[{i}]")
    else:
        assert expected == actual, f"{where}: expected {expected!r}, got {actual!r}"


async def test_the_worked_example_runs(node: Node) -> None:
    hooks = Receiver(SECRET)
    await hooks.start()
    try:
        agent = AgentClient(node.proc, *AGENT)
        await agent.login()
        await agent.connect()
        async with await admin_client(node) as admin:
            token = admin.headers["Authorization"].removeprefix("Bearer ")
        env = {"GW": node.base_url, "TOKEN": token, "HOOKS": hooks.url}
        pairs = examples()
        assert len(pairs) >= 10
        async with httpx.AsyncClient(timeout=10) as http:
            for cmd, answer in pairs:
                head, _, body = answer.partition("\n\n")
                status_line, *header_lines = head.strip().splitlines()
                r = await curl(http, cmd, env)
                assert r.status_code == int(status_line.split()[1]), (
                    f"{cmd}\n→ {r.status_code} {r.text}"
                )
                for line in header_lines:
                    name, _, value = line.partition(":")
                    assert r.headers.get(name.strip()) == value.strip(), (cmd, dict(r.headers))
                if body.strip():
                    match(json.loads(body), r.json(), env)
        # what the example says reaches the integration did, signed with its secret
        joined = await hooks.wait_events("message.created")
        assert joined[0].message and joined[0].message["event"] == "agent_joined"
        assert joined[0].conversation["id"] == env["CONVERSATION"]
    finally:
        await hooks.stop()
