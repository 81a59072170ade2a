"""``gateway serve`` tunes the garbage collector once started (gateway/cli.py): what
start-up built is frozen out of the full collections, and young collections are spaced
out (docs/deploy.md)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
import uvicorn
from starlette.applications import Starlette

from gateway import cli
from gateway.settings import Settings


def test_settle_heap_freezes_what_start_up_built_and_spaces_young_collections() -> None:
    # in a process of its own: freezing this one would keep the test run's garbage
    probe = (
        "import gc, json, gateway.cli as c; before = gc.get_freeze_count(); c.settle_heap(); "
        "print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold()]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True, text=True)
    before, frozen, threshold = json.loads(out.stdout)
    assert before == 0 and frozen > 10_000
    assert tuple(threshold) == cli.GC_THRESHOLD


def test_the_server_settles_the_heap_once_started(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def started(self: uvicorn.Server, sockets: object = None) -> None:
        calls.append("startup")

    monkeypatch.setattr(uvicorn.Server, "startup", started)
    monkeypatch.setattr(cli, "settle_heap", lambda: calls.append("settle"))
    server = cli.build_server(Starlette(), Settings())
    asyncio.run(server.startup())
    assert calls == ["startup", "settle"]
