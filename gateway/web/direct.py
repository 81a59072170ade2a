"""WebSocket routes served straight from uvicorn, not through Starlette's middleware and
router (docs/benchmarks.md#idle-connections).

A WebSocket keeps its ASGI call open for as long as it is connected, so every layer
between uvicorn and the endpoint (Starlette's error and exception middleware, the request
guard, the router, the route, the session wrapper) keeps a coroutine, closures and a
second ``WebSocket`` alive for the socket's life: about 5 KiB per idle socket. None of
them acts on the gateway's sockets: the request guard (gateway/web/guard.py) lets
WebSocket scopes through, and each endpoint turns its own errors into close codes
(``guarded`` in gateway/web/sockets.py). So a WebSocket scope whose path is that of a
plain ``WebSocketRoute`` (a function endpoint, no path parameters) goes straight to its
endpoint; HTTP, lifespan and any other WebSocket go through Starlette as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

Endpoint = Callable[[WebSocket], Awaitable[None]]


class DirectSockets:
    """The ASGI application uvicorn serves: ``app``, with its plain WebSocket routes
    called directly."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.routes: dict[str, Endpoint] = {
            route.path: route.endpoint
            for route in app.routes
            if isinstance(route, WebSocketRoute)
            and not route.param_convertors
            and (inspect.isfunction(route.endpoint) or inspect.ismethod(route.endpoint))
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            endpoint = self.routes.get(scope["path"])
            if endpoint is not None:
                # What the router would have set, for ``ws.app`` (gateway/web/context.py).
                scope["app"] = self.app
                scope["path_params"] = {}
                await endpoint(WebSocket(scope, receive, send))
                return
        elif scope["type"] == "lifespan":
            await self.app(scope, receive, _quiet_startup_failure(send))
            return
        await self.app(scope, receive, send)


def _quiet_startup_failure(send: Send) -> Send:
    """``send`` with a failed start-up's message emptied, so that uvicorn does not log
    its traceback again: the lifespan has said why in one line (gateway/app.py), with the
    traceback at GATEWAY_LOG_LEVEL=debug."""

    async def quiet(message: Message) -> None:
        if message["type"] == "lifespan.startup.failed":
            message = {**message, "message": ""}
        await send(message)

    return quiet
