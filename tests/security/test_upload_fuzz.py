"""schemathesis over the two upload endpoints of the OpenAPI document (the visitor's and
the agent's), as people who may upload to a live conversation (upload_fuzz_hooks.py):
generated names, query strings and bodies get a documented answer (201, or a refusal
with its status), never a 5xx, and the gateway logs no traceback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

from devkit.services import ROOT
from tests.gateway.client import accepted_chat
from tests.gateway.conftest import demo_agent, demo_visitor
from tests.security.conftest import start_node
from tests.security.test_openapi_fuzz import CHECKS, _schemathesis


def test_the_upload_endpoints_conform_to_their_openapi_document(tmp_path: Path) -> None:
    node = start_node()
    try:
        visitor, agent = demo_visitor(node), demo_agent(node)

        async def chat() -> str:
            cid = await accepted_chat(agent, visitor)
            for client in (visitor, agent):
                assert client.sock
                await client.sock.close()
            return cid

        cid = asyncio.run(chat())
        statuses = tmp_path / "statuses.txt"
        session = {
            "statuses": str(statuses),
            "conversation": cid,
            "agent_token": agent.token,
            "visitor_token": visitor.token,
            "origin": visitor.origin,
        }
        run = subprocess.run(
            [
                _schemathesis(),
                "run",
                node.base_url + "/api/openapi.json",
                "--include-path-regex",
                # the agent's and the visitor's (the integration API's upload is fuzzed,
                # with its key, by test_integration_fuzz.py)
                "^/(api/conversations/[^/]+|widget)/attachments$",
                "--checks",
                CHECKS,
                "--max-examples",
                "40",
                "--seed",
                "1",
                "--max-failures",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=ROOT,
            env={
                **os.environ,
                "SCHEMATHESIS_HOOKS": "tests.security.upload_fuzz_hooks",
                "GW_UPLOAD_FUZZ": json.dumps(session),
            },
        )
    finally:
        node.stop()
    report = run.stdout[-6000:] + run.stderr[-2000:]
    summary = run.stdout.split("SUMMARY")[-1]
    assert "generated" in summary and "Test Phases" in summary, report
    assert "2 selected" in run.stdout or "2 operations" in run.stdout, report
    assert run.returncode == 0, report
    assert "Server error" not in run.stdout, report
    assert "Traceback" not in node.output(), node.output()[-3000:]
    # The generated uploads reached the file checks on both endpoints: some were stored,
    # some refused for what they are (not only turned away at the door).
    seen: dict[str, set[int]] = {}
    for line in statuses.read_text().splitlines():
        path, status = line.rsplit(" ", 1)
        seen.setdefault(path, set()).add(int(status))
    for path in ("/widget/attachments", "/api/conversations/{id}/attachments"):
        assert 201 in seen[path] and seen[path] & {413, 415, 422}, (path, seen)
