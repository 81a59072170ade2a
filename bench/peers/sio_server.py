"""python-socketio's AsyncServer with its AsyncRedisManager, served by uvicorn.

As the library documents it for several nodes: every node runs this app with the same
Redis URL, and ``emit(..., room=...)`` reaches the room's members on every node. A
client emits ``join`` with a list of rooms (acknowledged) and ``m`` with
``[room, body]``; the server emits ``m`` to the room, skipping the sender.

Run: ``SIO_REDIS_URL=redis://... uvicorn sio_server:app --port PORT`` (in
bench/.venv-peers, from this directory).
"""

from __future__ import annotations

import os

import socketio

mgr = socketio.AsyncRedisManager(os.environ["SIO_REDIS_URL"])
sio = socketio.AsyncServer(
    async_mode="asgi", client_manager=mgr, cors_allowed_origins="*", transports=["websocket"]
)
app = socketio.ASGIApp(sio)


@sio.event
async def join(sid: str, rooms: list[str]) -> int:
    for room in rooms:
        await sio.enter_room(sid, room)
    return len(rooms)


@sio.event
async def m(sid: str, data: list[str]) -> None:
    await sio.emit("m", data, room=data[0], skip_sid=sid)
