"""The gateway's own pages: the agent console, health, readiness and metrics.

* ``/console`` the agents' console (gateway/web/static/console/), framed by nobody;
* ``/admin`` the admin section (gateway/web/static/admin/), likewise;
* ``/healthz`` liveness, ``/readyz`` readiness (the store answers, the node is not
  draining; the file storage's state is reported, not required), ``/metrics``
  Prometheus (gateway/metrics.py), behind ``GATEWAY_METRICS_TOKEN`` when it is set.

Static files (these, the widget's, the demo phone's) come from :func:`static_files`.
"""

from __future__ import annotations

import hmac
import re
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from gateway.errors import AuthError
from gateway.web.context import web_of

CONSOLE_STATIC = Path(__file__).resolve().parent / "static" / "console"
ADMIN_STATIC = Path(__file__).resolve().parent / "static" / "admin"

# Smaller files are not worth a gzip header and a Vary.
GZIP_MINIMUM_BYTES = 500

# A Host header is echoed into connect-src only when it is a plain host[:port].
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def static_files(directory: Path, *, check_dir: bool = True) -> ASGIApp:
    """The files of ``directory`` (an app to Mount), gzipped when the client accepts it:
    the widget's loader is fetched by every page that embeds it. Only static files: the
    API's answers are small or streamed, attachments mostly compressed formats already.
    The ETag and Last-Modified stay the file's (GZipMiddleware adds Vary: Accept-Encoding),
    so conditional requests still answer 304; a range request is answered uncompressed."""
    return GZipMiddleware(
        StaticFiles(directory=directory, check_dir=check_dir), minimum_size=GZIP_MINIMUM_BYTES
    )


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
    """The Prometheus text exposition of the default registry (``/metrics`` serves it
    through :func:`metrics_guarded`)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


async def metrics_guarded(request: Request) -> Response:
    """``GET /metrics``: open when ``GATEWAY_METRICS_TOKEN`` is empty, else only for
    ``Authorization: Bearer <that token>`` (401 otherwise)."""
    token = web_of(request).settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # constant time: the comparison must not tell how much of a guess was right;
        # headers arrive as latin-1, so any of their characters encodes back
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode("latin-1"), token.encode()
        ):
            raise AuthError("send Authorization: Bearer <GATEWAY_METRICS_TOKEN>")
    return await metrics_endpoint(request)


def routes(home: str) -> list[BaseRoute]:
    """``home``: where ``/`` leads (the demo shop in demo mode, else the console)."""

    async def index(request: Request) -> Response:
        return RedirectResponse(home)

    return [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_guarded),
        Route("/console", console_index),
        Route("/console/", console_index),
        # The page under its file name too: with its own headers, not the static files'
        # (any other spelling gets gateway/web/guard.py's strict default CSP).
        Route("/console/index.html", console_index),
        Mount("/console", app=static_files(CONSOLE_STATIC, check_dir=False), name="console"),
        Route("/admin", admin_index),
        Route("/admin/", admin_index),
        Mount("/admin", app=static_files(ADMIN_STATIC, check_dir=False), name="admin"),
    ]
