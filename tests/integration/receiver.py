"""A real webhook receiver for the tests: uvicorn serving a tiny Starlette app on a free
loopback port, in the test's own event loop. It records every request it gets (checked
with the example client's ``verify_webhook``), answers as the test says (200, an error
status, or never), and can be stopped and started again on the same port (a receiver
that is down refuses connections)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devkit.services import free_port, serving
from examples.gateway_client import Event, InvalidSignature, verify_webhook


@dataclass
class Received:
    query: str  # the URL's query string: several webhooks may share one receiver
    headers: dict[str, str]
    body: bytes
    event: Event | None  # None when the signature did not check out
    answered: int  # the status it got (0: never answered)


@dataclass
class Receiver:
    secret: str
    port: int = field(default_factory=free_port)
    # what to answer: a status, or "hang" (keep the request open until released)
    answer: int | str = 200
    # answer this status for the next N requests, then go back to ``answer``
    fail_next: int = 0
    fail_status: int = 500
    got: list[Received] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def events(self) -> list[Event]:
        """Every verified event received and answered 2xx (in arrival order)."""
        return [r.event for r in self.got if r.event is not None and 200 <= r.answered < 300]

    def of_type(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.type == kind]

    def sent_to(self, query: str) -> list[Event]:
        """The verified events delivered to ``<url>?<query>``."""
        return [
            r.event
            for r in self.got
            if r.query == query and r.event is not None and 200 <= r.answered < 300
        ]

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            event: Event | None = verify_webhook(
                self.secret, headers.get("gateway-signature"), body
            )
        except InvalidSignature:
            event = None
        status: int
        if self.fail_next > 0:
            self.fail_next -= 1
            status = self.fail_status
        elif self.answer == "hang":
            status = 0
        else:
            status = int(self.answer)
        record = Received(request.url.query, headers, body, event, status)
        self.got.append(record)
        async with self._changed:
            self._changed.notify_all()
        if status == 0:  # never answered: the sender times out, or dies waiting
            await self._release.wait()
            return Response(status_code=503)
        return Response(status_code=status if event is not None else 401)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hooks", self._hook, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._task = await serving(self._server)

    async def stop(self) -> None:
        """Down: connections are refused until ``start`` again."""
        self._release.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = self._task = None
        self._release = asyncio.Event()

    async def wait_for(
        self, check: Callable[[Receiver], bool], timeout: float = 30.0, what: str = ""
    ) -> None:
        """Until ``check(self)`` holds (re-checked on every request received)."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: check(self)), timeout)
            except TimeoutError:
                seen = [(r.query, r.answered, r.event.type if r.event else "?") for r in self.got]
                raise AssertionError(f"{what or 'condition'} not met; received {seen}") from None

    async def wait_events(self, kind: str, count: int = 1, timeout: float = 30.0) -> list[Event]:
        await self.wait_for(lambda r: len(r.of_type(kind)) >= count, timeout, f"{count} {kind}")
        return self.of_type(kind)
