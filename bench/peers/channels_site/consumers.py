"""A room relay as the Channels tutorial writes its chat: a group per room.

A client sends ``{"join": [room, ...]}`` (answered ``{"joined": n}``) and
``{"room": ..., "body": ...}``; the consumer ``group_send``s it through the Redis
channel layer, and each member other than the sender sends it down its socket.
"""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer


class RelayConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.rooms: list[str] = []
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for room in self.rooms:
            await self.channel_layer.group_discard(room, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        data = json.loads(text_data or "{}")
        if "join" in data:
            for room in data["join"]:
                await self.channel_layer.group_add(room, self.channel_name)
                self.rooms.append(room)
            await self.send(text_data=json.dumps({"joined": len(data["join"])}))
            return
        await self.channel_layer.group_send(
            data["room"],
            {
                "type": "relay",
                "room": data["room"],
                "body": data["body"],
                "from": self.channel_name,
            },
        )

    async def relay(self, event: dict[str, Any]) -> None:
        if event["from"] != self.channel_name:
            await self.send(text_data=json.dumps({"room": event["room"], "body": event["body"]}))
