"""The peers the gateway is measured beside do what the benchmark says they do."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

import pytest
import websockets

from bench import peers


async def test_the_sqlite_relay_commits_each_message_before_it_relays_and_acks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "relay.db"
    monkeypatch.setenv("WS_SQLITE_DB", str(db))
    server = peers.start("ws-sqlite", sys.executable)
    try:
        host, port = server.nodes[0]
        url = f"ws://{host}:{port}/"
        async with websockets.connect(url) as visitor, websockets.connect(url) as agent:
            for ws, rooms in ((visitor, "J r1"), (agent, "J r1,r2")):
                await ws.send(rooms)
                assert await asyncio.wait_for(ws.recv(), 10) == "joined"
            for body in ("one", "two"):
                await visitor.send(f"Mr1|{body}")
            await agent.send("Mr2|alone")
            await visitor.send("Mr3|to a room no one joined")
            # the sender gets an ack with the message's seq, the other member the frame
            acks = [await asyncio.wait_for(visitor.recv(), 10) for _ in range(3)]
            assert acks == ["Ar1|1", "Ar1|2", "Ar3|1"]
            got = [await asyncio.wait_for(agent.recv(), 10) for _ in range(3)]
            assert sorted(got) == ["Ar2|1", "Mr1|one", "Mr1|two"]
            assert got.index("Mr1|one") < got.index("Mr1|two")
            # every acknowledged message is in the database, committed
            with sqlite3.connect(db) as c:
                rows = c.execute("SELECT room, seq, body FROM messages ORDER BY room, seq")
                assert rows.fetchall() == [
                    ("r1", 1, "one"),
                    ("r1", 2, "two"),
                    ("r2", 1, "alone"),
                    ("r3", 1, "to a room no one joined"),
                ]
                seqs = dict(c.execute("SELECT id, last_seq FROM rooms"))
                assert seqs == {"r1": 2, "r2": 1, "r3": 1}
    finally:
        server.stop()
    assert server.procs[0].returncode == 0, server.output()  # stopped cleanly on SIGTERM
