"""A visitor that behaves like the widget under failures: reconnects to any live node,
resumes from its last seq, resends an unacknowledged message with the same client
message id, and keeps every message it saw by seq."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from devkit.services import GatewayProcess
from tests.cluster.conftest import Cluster


class Retry(Exception):
    pass


class ResilientVisitor:
    def __init__(self, cluster: Cluster, token: str, conversation_id: str) -> None:
        self.cluster = cluster
        self.token = token
        self.conversation_id = conversation_id
        self.seen: dict[int, dict[str, Any]] = {}
        self.acked: dict[str, int] = {}
        self.close_codes: list[int] = []
        self.ws: ClientConnection | None = None
        self.node: GatewayProcess | None = None
        self._turn = 0

    @property
    def last_seq(self) -> int:
        """The highest seq up to which everything was seen: resuming from there fills
        any hole a lost live frame left."""
        seq = 0
        while seq + 1 in self.seen or seq + 1 in self.acked.values():
            seq += 1
        return seq

    async def connect(self) -> None:
        """Connect to the next live node and resume; retries until one answers."""
        for _ in range(200):
            nodes = self.cluster.alive()
            if not nodes:
                await asyncio.sleep(0.1)
                continue
            node = nodes[self._turn % len(nodes)]
            self._turn += 1
            try:
                ws = await asyncio.wait_for(
                    connect(
                        node.ws_url + "/ws/visitor", origin=self.cluster.public, open_timeout=3
                    ),  # type: ignore[arg-type]
                    5,
                )
                await ws.send(
                    json.dumps(
                        {
                            "type": "hello",
                            "v": 1,
                            "token": self.token,
                            "resume": [
                                {"conversation_id": self.conversation_id, "last_seq": self.last_seq}
                            ],
                        }
                    )
                )
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    self._note(frame)
                    if frame["type"] == "welcome":
                        break
                self.ws, self.node = ws, node
                return
            except (
                OSError,
                ConnectionClosed,
                InvalidHandshake,
                InvalidStatus,
                TimeoutError,
            ) as exc:
                if isinstance(exc, ConnectionClosed) and exc.rcvd:
                    self.close_codes.append(exc.rcvd.code)
                await asyncio.sleep(0.1)
        raise RuntimeError("no node accepted the visitor")

    def _note(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "ack" and "message" in frame:
            frame = frame["message"]  # our own message comes in its ack only
        if frame["type"] == "token":
            self.token = frame["token"]
        elif (
            frame["type"] in ("message", "event")
            and frame["conversation_id"] == self.conversation_id
        ):
            # the unread count a live message carries is news, not the message's content
            frame = {k: v for k, v in frame.items() if k not in ("unread", "sound")}
            seq = frame["seq"]
            if seq in self.seen:
                assert self.seen[seq] == frame, f"seq {seq} delivered twice with different content"
            self.seen[seq] = frame

    async def send(self, body: str, deadline: float = 60.0) -> int:
        """Send until acknowledged; the seq it was stored under."""
        cid = uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline
        while loop.time() < end:
            if self.ws is None:
                await self.connect()
            assert self.ws is not None
            try:
                await self.ws.send(json.dumps({"type": "send", "body": body, "client_msg_id": cid}))
                while True:
                    frame = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
                    self._note(frame)
                    if frame["type"] == "ack" and frame["client_msg_id"] == cid:
                        self.acked[cid] = frame["seq"]
                        return int(frame["seq"])
                    if frame["type"] == "error" and frame.get("ref") == cid:
                        if not frame["retryable"]:
                            raise AssertionError(f"refused for good: {frame}")
                        await asyncio.sleep(0.2)
                        raise Retry
            except Retry:
                continue
            except (ConnectionClosed, TimeoutError, OSError) as exc:
                if isinstance(exc, ConnectionClosed) and exc.rcvd:
                    self.close_codes.append(exc.rcvd.code)
                self.ws = None
        raise TimeoutError(f"{body!r} was never acknowledged")

    async def catch_up(self, until_seq: int, timeout: float = 15.0) -> None:
        """Read (reconnecting as needed) until every seq up to ``until_seq`` was seen."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.missing(until_seq):
            if loop.time() > end:
                missing = self.missing(until_seq)
                raise TimeoutError(f"never saw seqs {missing}")
            if self.ws is None:
                await self.connect()
                continue
            try:
                self._note(json.loads(await asyncio.wait_for(self.ws.recv(), 1)))
            except TimeoutError:
                continue
            except ConnectionClosed:
                self.ws = None

    def missing(self, until_seq: int) -> list[int]:
        """Seqs not seen live or through a resume (own messages count once acked)."""
        have = set(self.seen) | set(self.acked.values())
        return [s for s in range(1, until_seq + 1) if s not in have]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
