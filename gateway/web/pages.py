"""The gateway's own pages: the agent console, health, readiness and metrics.

* ``/console`` the agents' console (gateway/web/static/console/), framed by nobody;
* ``/admin`` the admin section (gateway/web/static/admin/), likewise;
* ``/healthz`` liveness, ``/readyz`` readiness (the store answers, the node is not
  draining; the file storage's state is reported, not required), ``/metrics``
  Prometheus (gateway/metrics.py).
"""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.web.context import web_of

CONSOLE_STATIC = Path(__file__).resolve().parent / "static" / "console"
ADMIN_STATIC = Path(__file__).resolve().parent / "static" / "admin"

# A Host header is echoed into connect-src only when it is a plain host[:port].
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def connect_src(request: Request) -> str:
    """The CSP ``connect-src`` of the gateway's own pages: itself, and its sockets."""
    host = request.headers.get("host", "")
    if not _HOST_RE.match(host):
        return "'self'"
    return f"'self' ws://{host} wss://{host}"


async def console_index(request: Request) -> Response:
    return _app_page(request, CONSOLE_STATIC / "index.html")


async def admin_index(request: Request) -> Response:
    """The admin section (gateway/web/static/admin/): its data comes from the admin API,
    which checks the caller's role on every call."""
    return _app_page(request, ADMIN_STATIC / "index.html")


def _app_page(request: Request, path: Path) -> Response:
    csp = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect_src(request)}; media-src 'self' data: blob:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    return FileResponse(
        path,
        headers={
            "Content-Security-Policy": csp,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        },
    )


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers. ``/readyz`` also checks the database."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers and the node is not draining. Also says which
    node this is, whether it leads the router, and whether the file storage answers:
    without it the node still carries conversations (every node shares the storage, so
    failing readiness for it would take them all out), so it is ``degraded``, still 200
    (docs/deploy.md). The storage's answer is cached a few seconds (Attachments)."""
    web = web_of(request)
    health = web.health
    ok = await health.ping_store() and not health.draining
    # asked only of a node that serves (a draining one's attachments may be stopped)
    files = "unchecked"
    if ok:
        files = "ok" if await web.attachments.storage_ready() else "unavailable"
    status = "draining" if health.draining else "unavailable" if not ok else "ok"
    if files == "unavailable":
        status = "degraded"
    return JSONResponse(
        {
            "status": status,
            "node": health.node_id,
            "router_leader": health.is_leader(),
            "files": files,
        },
        status_code=200 if ok else 503,
    )


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``: the Prometheus text exposition of the default registry."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def routes(home: str) -> list[BaseRoute]:
    """``home``: where ``/`` leads (the demo shop in demo mode, else the console)."""

    async def index(request: Request) -> Response:
        return RedirectResponse(home)

    return [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/console", console_index),
        Route("/console/", console_index),
        # The page under its file name too: with its own headers, not the static files'
        # (any other spelling gets gateway/web/guard.py's strict default CSP).
        Route("/console/index.html", console_index),
        Mount(
            "/console", app=StaticFiles(directory=CONSOLE_STATIC, check_dir=False), name="console"
        ),
        Route("/admin", admin_index),
        Route("/admin/", admin_index),
        Mount("/admin", app=StaticFiles(directory=ADMIN_STATIC, check_dir=False), name="admin"),
    ]
