"""A connection's objects are freed when it ends, by their reference counts: none is
left for the garbage collector (docs/deploy.md, "Garbage the connections leave").

Each object in a reference cycle waits for a young collection, which runs on the event
loop's thread with every socket of the node waiting; the cycles a connection left
(its protocol and its response cycle, the upgraded HTTP protocol and its parser, the
WebSocket protocol and its scope, a task and the disconnect it raised) were 55 objects
for each visitor's bootstrap request and socket, and collections of 50 to 170 ms in the
contact-center benchmark.

tests/gateway/garbage_probe.py runs the real server and its clients in one process of
its own (the collector's state is process-wide) and reports what the server left."""

from __future__ import annotations

import json
import subprocess
import sys

from devkit.services import ROOT


def test_a_connection_leaves_nothing_to_the_garbage_collector() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tests.gateway.garbage_probe"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    # the probe saw the collector work: the clients in its process leave cycles of
    # their own (httpx's responses), which it saved and told apart
    assert result["garbage"] > 0
    assert result["server"] == {}, result
