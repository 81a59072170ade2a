"""What the three emulators share: a Starlette app with a control API under
``/_emulator/`` (open to any origin: the demo's phone page calls it from the gateway's
page), the record of what was sent and a copy of each medium fetched for it (served at
``/_emulator/media/{id}``), webhooks posted with the providers' retries, and injected
failures."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from devkit.emulators.media import MediaStore, Medium

log = logging.getLogger("emulator")


@dataclass
class Attempt:
    url: str
    status: int  # 0: no answer (connection refused, timeout)
    at: float


@dataclass
class Webhook:
    """One webhook and every attempt to post it."""

    id: int
    kind: str
    url: str
    attempts: list[Attempt] = field(default_factory=list)
    delivered: bool = False


class Emulator:
    """State and behaviour every provider emulator has."""

    name = "provider"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []  # every send the API accepted or refused
        self.webhooks: list[Webhook] = []
        # seconds between a webhook's attempts: the first, then each retry
        self.retry_delays: list[float] = [0.0, 0.5, 1.0, 2.0, 4.0]
        # injected failures of the send API: (HTTP status, body) answered in turn
        self.failures: list[tuple[int, dict[str, Any]]] = []
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self._changed = asyncio.Condition()
        # the copies of the media the provider fetched from the gateway's links: what the
        # contact's phone received (served by the control API under unguessable ids)
        self.delivered_media = MediaStore("D")

    # -- ids ---------------------------------------------------------------------------
    @staticmethod
    def hex_id(prefix: str, size: int = 32) -> str:
        return prefix + secrets.token_hex(size // 2)

    def kept(self, medium: Medium, source: str) -> dict[str, Any]:
        """A fetched medium's summary, with ``source`` (the link the gateway gave) and
        ``url``: where the control API serves the copy the contact received."""
        key = self.delivered_media.add(medium, suffix=self.hex_id("-", 32))
        return {**medium.summary(), "source": source, "url": f"/_emulator/media/{key}"}

    # -- webhooks ------------------------------------------------------------------------
    def post_later(
        self,
        kind: str,
        url: str,
        body: Callable[[], tuple[bytes, dict[str, str]]],
        delay: float = 0.0,
    ) -> Webhook:
        """Post a webhook in the background, retrying until the gateway answers 2xx
        (body() gives the bytes and headers, signed, for each attempt)."""
        hook = Webhook(next(self._ids), kind, url)
        self.webhooks.append(hook)
        task = asyncio.get_running_loop().create_task(self._post(hook, body, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return hook

    async def post_now(
        self, kind: str, url: str, body: Callable[[], tuple[bytes, dict[str, str]]]
    ) -> Webhook:
        hook = Webhook(next(self._ids), kind, url)
        self.webhooks.append(hook)
        await self._post(hook, body, 0.0)
        return hook

    def http(self) -> httpx.AsyncClient:
        """The emulator's client: webhooks, and fetching media the gateway links to."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=15.0)
        return self._http

    async def _post(
        self, hook: Webhook, body: Callable[[], tuple[bytes, dict[str, str]]], delay: float
    ) -> None:
        http = self.http()
        await asyncio.sleep(delay)
        for wait in self.retry_delays:
            await asyncio.sleep(wait)
            data, headers = body()
            try:
                r = await http.post(hook.url, content=data, headers=headers)
                status = r.status_code
            except httpx.HTTPError as exc:
                log.info("webhook %s to %s: %s", hook.kind, hook.url, type(exc).__name__)
                status = 0
            hook.attempts.append(Attempt(hook.url, status, time.time()))
            if 200 <= status < 300:
                hook.delivered = True
                break
        await self.changed()

    async def record(self, send: dict[str, Any]) -> None:
        send.setdefault("at", time.time())
        self.sent.append(send)
        await self.changed()

    async def changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def settle(self) -> None:
        """Wait until no webhook is being posted."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def failure(self) -> tuple[int, dict[str, Any]] | None:
        """The injected failure for this send, if any (status 0: answer this one)."""
        failure = self.failures.pop(0) if self.failures else None
        return failure if failure and failure[0] else None

    # -- the control API -------------------------------------------------------------------
    def control_routes(self) -> list[BaseRoute]:
        async def sent(request: Request) -> Response:
            """Every send so far; with ``min``, wait (up to ``timeout`` s) for that many."""
            want = int(request.query_params.get("min", "0"))
            timeout = float(request.query_params.get("timeout", "10"))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout), self._changed:
                    await self._changed.wait_for(lambda: len(self.sent) >= want)
            return JSONResponse(self.sent)

        async def webhooks(request: Request) -> Response:
            if request.query_params.get("settle"):
                await self.settle()
            return JSONResponse(
                [
                    {
                        "id": h.id,
                        "kind": h.kind,
                        "url": h.url,
                        "delivered": h.delivered,
                        "attempts": [a.status for a in h.attempts],
                    }
                    for h in self.webhooks
                ]
            )

        async def fail(request: Request) -> Response:
            """Answer the next ``count`` sends with ``status`` (and ``body``), after
            answering ``after`` sends as usual."""
            data = await request.json()
            for _ in range(int(data.get("after", 0))):
                self.failures.append((0, {}))
            for _ in range(int(data.get("count", 1))):
                self.failures.append((int(data["status"]), dict(data.get("body", {}))))
            return JSONResponse({"queued": len(self.failures)})

        async def retries(request: Request) -> Response:
            self.retry_delays = [float(x) for x in (await request.json())["delays"]]
            return JSONResponse({"delays": self.retry_delays})

        async def media(request: Request) -> Response:
            """A copy of a medium the contact received, as their phone would save it."""
            medium = self.delivered_media.items.get(request.path_params["key"])
            if medium is None:
                return Response(status_code=404)
            name = medium.name or "file"
            return Response(
                medium.data,
                media_type=medium.content_type,
                headers={
                    "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}",
                    "X-Content-Type-Options": "nosniff",
                    # served to the demo's phone page on another port
                    "Cross-Origin-Resource-Policy": "cross-origin",
                },
            )

        async def reset(request: Request) -> Response:
            await self.settle()
            self.reset()
            if request.query_params.get("configuration"):
                self.forget_configuration()
            return JSONResponse({})

        return [
            Route("/_emulator/sent", sent),
            Route("/_emulator/webhooks", webhooks),
            Route("/_emulator/fail", fail, methods=["POST"]),
            Route("/_emulator/retries", retries, methods=["POST"]),
            Route("/_emulator/reset", reset, methods=["POST"]),
            Route("/_emulator/media/{key}", media),
        ]

    def reset(self) -> None:
        """Forget what happened (sends, webhooks, failures), as when the provider's
        short-lived state expires; the accounts configured stay."""
        self.sent.clear()
        self.webhooks.clear()
        self.failures.clear()
        self.delivered_media.items.clear()

    def forget_configuration(self) -> None:
        """Forget the accounts, numbers and pages configured: a test starts from none,
        whatever an earlier test on the same emulator set up."""

    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError  # each emulator lists its provider's API

    def app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            for task in list(self._tasks):
                task.cancel()
            if self._http is not None:
                await self._http.aclose()

        return Starlette(
            routes=[*self.control_routes(), *self.routes()],
            middleware=[
                Middleware(
                    CORSMiddleware,
                    allow_origins=["*"],
                    allow_methods=["GET", "POST"],
                    allow_headers=["content-type"],
                )
            ],
            lifespan=lifespan,
        )


async def json_body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


Handler = Callable[[Request], Awaitable[Response]]
