"""gateway/web/direct.py: the plain WebSocket routes are called straight from uvicorn;
everything else still goes through Starlette."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from devkit import services
from gateway.web.direct import DirectSockets
from tests.gateway.conftest import demo_agent, demo_visitor


async def _plain(ws: WebSocket) -> None:
    await ws.accept()


async def _with_param(ws: WebSocket) -> None:
    await ws.accept()


async def _page(request: object) -> PlainTextResponse:
    return PlainTextResponse("page")


def test_only_plain_websocket_routes_are_served_directly() -> None:
    app = Starlette(
        routes=[
            WebSocketRoute("/ws/plain", _plain),
            WebSocketRoute("/ws/{room}", _with_param),
            Route("/page", _page),
        ]
    )
    assert DirectSockets(app).routes == {"/ws/plain": _plain}


async def test_a_direct_endpoint_sees_the_app_and_others_reach_starlette() -> None:
    seen: list[object] = []

    async def endpoint(ws: WebSocket) -> None:
        seen.append(ws.app)

    calls: list[str] = []

    async def starlette(scope: dict[str, object], receive: object, send: object) -> None:
        calls.append(str(scope["type"]))

    app = Starlette(routes=[WebSocketRoute("/ws/x", endpoint)])
    direct = DirectSockets(app)
    direct.app = starlette  # type: ignore[assignment]

    async def receive() -> dict[str, object]:
        raise AssertionError("not read")

    async def send(message: object) -> None:
        raise AssertionError("not written")

    await direct({"type": "websocket", "path": "/ws/x", "headers": []}, receive, send)
    assert seen == [starlette] and calls == []
    await direct({"type": "websocket", "path": "/ws/other", "headers": []}, receive, send)
    await direct({"type": "http", "path": "/ws/x", "headers": []}, receive, send)
    await direct({"type": "lifespan"}, receive, send)
    assert calls == ["websocket", "http", "lifespan"]


async def test_a_served_gateway_holds_both_sockets_and_refuses_an_unknown_one(
    gateway: services.GatewayProcess,
) -> None:
    visitor = demo_visitor(gateway)
    await visitor.bootstrap()
    await visitor.connect()
    agent = demo_agent(gateway)
    await agent.login()
    await agent.connect()
    conv = await visitor.start("hello there")
    assert conv.startswith("cv_")
    # A WebSocket on a path no route holds still gets Starlette's refusal.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(gateway.ws_url + "/ws/nowhere", origin=gateway.base_url):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    assert gateway.alive() and "Traceback" not in gateway.output()
