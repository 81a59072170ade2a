"""The ASGI application: routes, and the engine's start and stop around them."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from channels.chat.bootstrap import bootstrap
from channels.chat.visitor_socket import visitor_endpoint
from gateway.auth import Tokens, load_secret
from gateway.demo import seed_demo
from gateway.metrics import metrics_endpoint
from gateway.ports.bus import create_bus
from gateway.ports.store import create_store
from gateway.services.engine import Engine
from gateway.settings import Settings
from gateway.web import pages
from gateway.web.admin.routes import admin_routes
from gateway.web.agent_socket import AgentSockets, agent_endpoint
from gateway.web.login import api_routes

log = logging.getLogger("gateway")


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers. ``/readyz`` also checks the database."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers. Also says which node this is and whether it
    leads the router."""
    engine: Engine = request.app.state.engine
    ok = await engine.store.ping() and not engine.draining
    return JSONResponse(
        {
            "status": "draining" if engine.draining else "ok" if ok else "unavailable",
            "node": engine.node_id,
            "router_leader": engine.dispatcher.is_leader,
        },
        status_code=200 if ok else 503,
    )


def build_engine(settings: Settings) -> Engine:
    tokens = Tokens(
        load_secret(settings),
        visitor_ttl=settings.visitor_token_ttl,
        agent_ttl=settings.agent_token_ttl,
    )
    return Engine(
        settings,
        create_store(settings.database_url),
        create_bus(settings.redis_url),
        tokens,
        time.time,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Errors Starlette raises itself (no route, wrong method): the API's JSON error
    shape under /api, plain text elsewhere."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": {"code": code, "message": str(exc.detail)}},
            status_code=exc.status_code,
            headers=exc.headers,
        )
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)


def _banner(settings: Settings) -> None:
    base = settings.public_url or f"http://{settings.host}:{settings.port}"
    lines = [f"Engagement gateway ready on {base}"]
    if settings.demo:
        from gateway.demo import DEMO_ADMIN, DEMO_AGENT

        lines += [
            f"  demo page (the visitor):  {base}/demo",
            f"  agent console:            {base}/console",
            f"    log in as the agent:    {DEMO_AGENT[0]} / {DEMO_AGENT[1]}",
            f"    or as the admin:        {DEMO_ADMIN[0]} / {DEMO_ADMIN[1]}",
        ]
    lines.append(f"  health:                   {base}/healthz")
    print("\n".join(lines), file=sys.stderr, flush=True)


def create_app(settings: Settings) -> Starlette:
    engine = build_engine(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        if settings.demo:
            await seed_demo(engine)
        _banner(settings)
        try:
            yield
        finally:
            # uvicorn has closed every socket with 1012 and waited for in-flight work.
            await engine.stop()
            print(f"node {engine.node_id} drained and stopped", file=sys.stderr, flush=True)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/widget/bootstrap", bootstrap, methods=["POST"]),
        WebSocketRoute("/ws/visitor", visitor_endpoint),
        WebSocketRoute("/ws/agent", agent_endpoint),
        Mount("/api", routes=[*api_routes(), *admin_routes()]),
        *pages.routes(settings),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error},
    )
    app.state.engine = engine
    app.state.presence = AgentSockets(engine)
    app.state.settings = settings
    return app
