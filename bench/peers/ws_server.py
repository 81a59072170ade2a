"""The ceiling: the bare ``websockets`` library relaying between members of a room.

No routing, no persistence, no authentication: a client sends ``J room,room,...`` to
join rooms (answered ``joined``) and ``M room|body`` to send; the server broadcasts the
frame to the room's other members with ``websockets.broadcast``, as the library's own
documentation shows for fan-out.

Run: ``python ws_server.py PORT`` (in bench/.venv-peers).
"""

from __future__ import annotations

import asyncio
import sys
from collections import defaultdict

import websockets
from websockets.asyncio.server import ServerConnection, broadcast, serve

ROOMS: dict[str, set[ServerConnection]] = defaultdict(set)


async def handler(ws: ServerConnection) -> None:
    joined: list[str] = []
    try:
        async for message in ws:
            text = message if isinstance(message, str) else message.decode()
            if text[0] == "M":
                room = text[1 : text.index("|")]
                broadcast([m for m in ROOMS.get(room, ()) if m is not ws], text)
            elif text[0] == "J":
                for room in text[2:].split(","):
                    ROOMS[room].add(ws)
                    joined.append(room)
                await ws.send("joined")
    except websockets.ConnectionClosed:
        pass
    finally:
        leave(ws, joined)


def leave(ws: ServerConnection, rooms: list[str]) -> None:
    for room in rooms:
        members = ROOMS.get(room)
        if members is not None:
            members.discard(ws)
            if not members:
                del ROOMS[room]


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, compression=None, backlog=4096) as server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main(int(sys.argv[1])))
    except ImportError:
        asyncio.run(main(int(sys.argv[1])))
