"""The floor of durability: the bare ``websockets`` relay, every message committed to
SQLite before it is relayed and acknowledged.

As ws_server.py (``J room,room,...`` joins, ``M room|body`` sends), plus: each message
is stored under its room's next seq (a table keyed by room and seq, with a unique
time-ordered id per message) and its room's counter is written; the messages that
arrive in one turn of the event loop are committed in one transaction, then each is
broadcast to its room's other members and acknowledged to its sender (``A room|seq``):
two frames a message, as the gateway sends. SQLite in WAL mode with
``synchronous=NORMAL``, as the gateway's store; its checkpoints are SQLite's own (in the
committing call, every 1,000 pages). No authentication, no routing, no unread counts, no
retry handling: what committing before the ack costs a Python relay, and nothing else
(docs/benchmarks.md reads the gateway beside it).

Run: ``python ws_sqlite_server.py PORT`` (in bench/.venv-peers; the database is in a
temporary directory, removed when it stops, unless ``WS_SQLITE_DB`` names a file).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sqlite3
import sys
import tempfile
import time

import websockets
from websockets.asyncio.server import ServerConnection, broadcast, serve
from ws_server import ROOMS, leave  # the bare relay's rooms (run from bench/peers)

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    room TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,
    created_at REAL NOT NULL, PRIMARY KEY (room, seq)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_id ON messages (id);
"""


class Store:
    """One connection, written on the event loop's thread; seqs kept in memory."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.seqs: dict[str, int] = dict(self.db.execute("SELECT id, last_seq FROM rooms"))
        self.ids = itertools.count(time.time_ns())
        # (sender, room, frame) in the order they came, until the turn's commit
        self.pending: list[tuple[ServerConnection, str, str]] = []
        self.loop = asyncio.get_running_loop()

    def join(self, room: str) -> None:
        if room not in self.seqs:
            self.db.execute("INSERT OR IGNORE INTO rooms VALUES (?, 0)", (room,))
            self.seqs[room] = 0

    def add(self, ws: ServerConnection, room: str, text: str) -> None:
        self.join(room)  # a room no one joined is stored all the same
        if not self.pending:
            self.loop.call_soon(self.commit)  # after the frames already read this turn
        self.pending.append((ws, room, text))

    def commit(self) -> None:
        batch, self.pending = self.pending, []
        now = time.time()
        rows, acks = [], []
        for _, room, text in batch:
            seq = self.seqs[room] = self.seqs[room] + 1
            rows.append((room, seq, f"{next(self.ids):036d}", text[len(room) + 2 :], now))
            acks.append(f"A{room}|{seq}")
        self.db.execute("BEGIN")
        try:
            self.db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", rows)
            self.db.executemany(
                "UPDATE rooms SET last_seq = ? WHERE id = ?", [(r[1], r[0]) for r in rows]
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            for room, _, _, _, _ in rows:  # nothing stored: the seqs go back
                self.seqs[room] -= 1
            raise
        for (ws, room, text), ack in zip(batch, acks, strict=True):
            broadcast([m for m in ROOMS.get(room, ()) if m is not ws], text)
            broadcast([ws], ack)


STORE: Store | None = None


async def handler(ws: ServerConnection) -> None:
    assert STORE is not None
    joined: list[str] = []
    try:
        async for message in ws:
            text = message if isinstance(message, str) else message.decode()
            if text[0] == "M":
                STORE.add(ws, text[1 : text.index("|")], text)
            elif text[0] == "J":
                for room in text[2:].split(","):
                    STORE.join(room)
                    ROOMS[room].add(ws)
                    joined.append(room)
                await ws.send("joined")
    except websockets.ConnectionClosed:
        pass
    finally:
        leave(ws, joined)


async def main(port: int) -> None:
    global STORE
    with tempfile.TemporaryDirectory(prefix="ws-sqlite-") as tmp:
        STORE = Store(os.environ.get("WS_SQLITE_DB") or os.path.join(tmp, "relay.db"))
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        async with serve(handler, "127.0.0.1", port, compression=None, backlog=4096):
            await stop.wait()
        STORE.db.close()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main(int(sys.argv[1])))
    except ImportError:
        asyncio.run(main(int(sys.argv[1])))
