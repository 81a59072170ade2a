"""Where a test reaches a gateway: one small interface that a real process
(:class:`devkit.services.GatewayProcess`) and the app served in-process
(:class:`devkit.inprocess.InProcessGateway`) both offer, so the same clients drive
either.

An :class:`Endpoint` gives an ``httpx.AsyncClient`` for its HTTP API and opens
WebSockets. A :class:`WebSocketLink` is the part of websockets' ``ClientConnection``
that the clients use: the real process hands out that connection itself, the in-process
harness an object that behaves alike, down to raising
``websockets.exceptions.ConnectionClosed`` (with the close code the server sent) once
the server has closed the socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import httpx


class WebSocketLink(Protocol):
    """An open WebSocket to the gateway, as websockets' asyncio client presents one."""

    async def send(self, message: str | bytes, /) -> None:
        """Send a text (str) or binary (bytes) frame; ConnectionClosed once closed."""
        ...

    async def recv(self) -> str | bytes:
        """The next frame, waiting for it; ``ConnectionClosed`` once the socket is closed
        (``exc.rcvd.code`` is the code the server closed with, ``rcvd`` is None when it
        sent none). Cancelling it loses no frame."""
        ...

    async def close(self) -> None:
        """Close from the client's side (code 1000); nothing if already closed."""
        ...


class Endpoint(Protocol):
    """A gateway a test talks to."""

    @property
    def port(self) -> int:
        """The port the gateway believes it serves on (``GATEWAY_PORT``)."""
        ...

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: the gateway's own origin, as its pages see it."""
        ...

    def http(
        self, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0
    ) -> httpx.AsyncClient:
        """A new client whose relative URLs go to the gateway; the caller closes it."""
        ...

    async def websocket(
        self, path: str, *, origin: str | None = None, headers: Mapping[str, str] | None = None
    ) -> WebSocketLink:
        """Open a WebSocket to ``path`` (``/ws/visitor``, ``/ws/agent``) sending this
        ``Origin`` (none when None)."""
        ...

    def alive(self) -> bool:
        """The gateway still serves (a real process has not exited; the in-process app's
        lifespan runs and nothing escaped the application)."""
        ...
