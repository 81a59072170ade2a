"""The gateway's application served in-process, for tests of what the services do.

:class:`InProcessGateway` builds the real app with ``gateway.app.create_app`` from the
settings ``gateway serve`` would read (``GATEWAY_*``, through
``gateway.settings.load_settings``), on a temporary SQLite file and the in-process bus,
runs its lifespan (start-up with the demo data, then shut-down) with asgi-lifespan's
``LifespanManager``, and serves it without a socket: HTTP through
``httpx.ASGITransport``, WebSockets through httpx-ws's ``ASGIWebSocketTransport``. It
starts in a fraction of a second where a real process takes one or two.

It offers what :class:`devkit.services.GatewayProcess` offers the clients
(:class:`devkit.endpoint.Endpoint`): ``base_url``, ``port``, ``http()``,
``websocket(path, origin=...)`` and ``alive()``. The app believes it serves on
``http://127.0.0.1:PORT`` (``GATEWAY_HOST``, ``GATEWAY_PORT``), PORT a port number that
was free when the harness was made and on which nothing listens: every request goes to
that URL, so the Host header, the gateway's Origin checks and the demo touchpoints'
domain (``127.0.0.1:PORT``) agree as they do with a real process.

What uvicorn does is not here, so what tests it stays on a real process
(``devkit.services.start_gateway``): the frame size limit (close 1009), pings, the
drain on SIGTERM and restarts, and anything that needs PostgreSQL or Redis. The harness
does stand in for the little of uvicorn the application relies on: a WebSocket the
application returns from without closing is closed with 1000, a send to a client that
has gone raises ``OSError`` (uvicorn's ``ClientDisconnected`` is one), and an exception
that escapes the application is recorded (``app_errors``; ``alive()`` turns False)
besides reaching the client (HTTP: raised in the test; WebSocket: close 1011).

As an async context manager::

    async with InProcessGateway({"GATEWAY_DEMO": "1"}) as gw:
        async with gw.http() as http:
            assert (await http.get("/healthz")).status_code == 200
        ws = await gw.websocket("/ws/agent", origin=gw.base_url)

As a pytest fixture (pytest-asyncio; start and stop may run in different tasks)::

    node = gateway_fixture({"GATEWAY_DEMO": "1"}, scope="module")

A module-scoped fixture lives in the module's event loop: mark the module's tests
``pytest.mark.asyncio(loop_scope="module")``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import anyio
import httpx
import pytest_asyncio
import wsproto.events
import wsproto.utilities
from asgi_lifespan import LifespanManager
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, WebSocketNetworkError, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from websockets.frames import Close

from devkit.services import SECRET_KEY, TEST_LIMITS, free_port
from gateway.app import create_app
from gateway.settings import Settings, load_settings

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

START_TIMEOUT = 60.0
"""Bounds on the lifespan's start-up and shut-down, and on a WebSocket's accept: generous,
for a loaded two-core machine; a healthy app takes milliseconds."""


class InProcessGateway:
    """The real app, in this process and event loop; see the module's docstring.

    ``env`` holds ``GATEWAY_*`` variables over the harness's defaults (those of
    ``devkit.services.start_gateway``: 127.0.0.1, a temporary data directory and SQLite
    file, the tests' secret key, log level warning). The process's own environment is
    not read. ``database_url`` is known before ``start()``, to seed the store first.
    """

    def __init__(self, env: Mapping[str, str] | None = None, *, port: int | None = None) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="gw-inproc-"))
        self.env: dict[str, str] = {
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(port or free_port()),
            "GATEWAY_DATA_DIR": str(self.data_dir),
            "GATEWAY_DATABASE_URL": f"sqlite:///{self.data_dir}/gateway.db",
            "GATEWAY_SECRET_KEY": SECRET_KEY,
            "GATEWAY_LOG_LEVEL": "warning",
            **TEST_LIMITS,
            **(env or {}),
        }
        try:
            self.settings: Settings = load_settings(self.env)
        except BaseException:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise
        self.port: int = self.settings.port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.app_errors: list[BaseException] = []
        self._app: _Served | None = None
        # the app's composition root while it runs (app.state.node), for tests that look
        # inside it (a store's calls)
        self.node: Any = None
        self._ws_client: httpx.AsyncClient | None = None
        self._links: set[InProcessWebSocket] = set()
        self._handshakes = asyncio.Lock()
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    @property
    def database_url(self) -> str:
        return self.settings.database_url

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Build the app and run its start-up; return when it serves."""
        if self._runner is not None:
            raise RuntimeError("this in-process gateway was started already")
        ready = asyncio.get_running_loop().create_future()
        # One task enters and leaves every context (the lifespan, httpx-ws's task group),
        # so start() and stop() may be called from different tasks, as pytest fixtures do.
        self._runner = asyncio.create_task(self._serve(ready), name=f"gateway {self.base_url}")
        await asyncio.wait({ready, self._runner}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self._runner.result()  # start-up failed: its exception
            raise RuntimeError("the in-process gateway stopped while starting")

    async def stop(self) -> None:
        """Close the sockets still open (as uvicorn does when it stops), run the app's
        shut-down, and remove the temporary directory."""
        try:
            if self._runner is not None:
                self._stop.set()
                await self._runner
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    async def _serve(self, ready: asyncio.Future[None]) -> None:
        app = create_app(self.settings)
        self.node = app.state.node
        async with LifespanManager(
            app, startup_timeout=START_TIMEOUT, shutdown_timeout=START_TIMEOUT
        ) as lifespan:
            self._app = _Served(lifespan.app, self.app_errors)
            transport = ASGIWebSocketTransport(self._app, initial_receive_timeout=START_TIMEOUT)
            try:
                async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as ws:
                    self._ws_client = ws
                    ready.set_result(None)
                    try:
                        await self._stop.wait()
                    finally:
                        self._ws_client = None
                        for link in list(self._links):
                            await link.close()
            finally:
                self._app = None  # no new request while the app shuts down

    def alive(self) -> bool:
        """Started, not stopped, and no exception escaped the application."""
        return (
            self._runner is not None
            and not self._runner.done()
            and self._app is not None
            and not self.app_errors
        )

    def http(
        self, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0
    ) -> httpx.AsyncClient:
        """A new client to the app (relative URLs go to ``base_url``); close it after."""
        if self._app is None:
            raise RuntimeError("the in-process gateway is not running")
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self._app),
            base_url=self.base_url,
            headers=headers,
            timeout=timeout,
        )

    async def websocket(
        self, path: str, *, origin: str | None = None, headers: Mapping[str, str] | None = None
    ) -> InProcessWebSocket:
        """Open a WebSocket to ``path``, sending this ``Origin`` (none when None)."""
        client = self._ws_client
        if client is None:
            raise RuntimeError("the in-process gateway is not running")
        sent = dict(headers or {})
        if origin is not None:
            sent["Origin"] = origin
        link = await InProcessWebSocket.open(client, self.ws_url + path, sent, self._handshakes)
        self._links.add(link)
        link.on_closed = self._links.discard
        return link


class InProcessWebSocket:
    """A WebSocket to the in-process app that behaves as websockets' asyncio
    ``ClientConnection`` does for the clients (:class:`devkit.endpoint.WebSocketLink`).

    httpx-ws's session holds a task group, which the task that opened it must also
    close; a test may leave a socket open for the harness to close when it stops. So the
    session lives in a task of its own that opens it, moves each frame it receives to a
    queue (``recv`` reads the queue: cancelling it loses nothing), and closes it when asked.
    """

    def __init__(self) -> None:
        self._frames: asyncio.Queue[str | bytes | ConnectionClosed] = asyncio.Queue()
        self._closed: ConnectionClosed | None = None
        self._close_requested = asyncio.Event()
        self._session: AsyncWebSocketSession | None = None
        self._task: asyncio.Task[None] | None = None
        self.on_closed: Callable[[InProcessWebSocket], None] = lambda link: None

    @classmethod
    async def open(
        cls, client: httpx.AsyncClient, url: str, headers: dict[str, str], lock: asyncio.Lock
    ) -> InProcessWebSocket:
        link = cls()
        opened = asyncio.get_running_loop().create_future()
        link._task = asyncio.create_task(link._run(client, url, headers, lock, opened))
        await asyncio.wait({opened, link._task}, return_when=asyncio.FIRST_COMPLETED)
        if not opened.done():
            link._task.result()  # the handshake failed: its exception
            raise RuntimeError(f"the WebSocket to {url} ended while opening")
        return link

    async def _run(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        lock: asyncio.Lock,
        opened: asyncio.Future[None],
    ) -> None:
        async with contextlib.AsyncExitStack() as stack:
            # One handshake at a time: ASGIWebSocketTransport keeps the scope of the
            # connection being opened in an attribute until its task has read it.
            async with lock:
                session: AsyncWebSocketSession = await stack.enter_async_context(
                    aconnect_ws(url, client, headers=headers)
                )
            self._session = session
            opened.set_result(None)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self._pump, session)
                await self._close_requested.wait()
                tasks.cancel_scope.cancel()
        # Leaving the session sent the client's close (1000) unless the server closed first.

    async def _pump(self, session: AsyncWebSocketSession) -> None:
        while True:
            try:
                event = await session.receive()
            except WebSocketDisconnect as exc:
                code = exc.code
                ok = code in (1000, 1001)
                closed = (ConnectionClosedOK if ok else ConnectionClosedError)(
                    Close(code, exc.reason or ""), None
                )
                self._frames.put_nowait(closed)
                return
            except WebSocketNetworkError:
                self._frames.put_nowait(ConnectionClosedError(None, None))
                return
            if isinstance(event, wsproto.events.TextMessage):
                self._frames.put_nowait(event.data)
            elif isinstance(event, wsproto.events.BytesMessage):
                self._frames.put_nowait(bytes(event.data))

    async def send(self, message: str | bytes, /) -> None:
        if self._closed is not None:
            raise self._closed
        assert self._session is not None
        try:
            if isinstance(message, str):
                await self._session.send_text(message)
            else:
                await self._session.send_bytes(message)
        except (wsproto.utilities.LocalProtocolError, WebSocketNetworkError) as exc:
            # The server closed the socket; its close frame may not have been read yet.
            raise ConnectionClosedError(None, None) from exc

    async def recv(self) -> str | bytes:
        if self._closed is not None and self._frames.empty():
            raise self._closed
        frame = await self._frames.get()
        if isinstance(frame, ConnectionClosed):
            self._closed = frame
            raise frame
        return frame

    async def close(self) -> None:
        if self._task is None or self._close_requested.is_set():
            return
        self._close_requested.set()
        try:
            await self._task
        finally:
            self._frames.put_nowait(ConnectionClosedOK(None, Close(1000, "")))
            self.on_closed(self)


class _Served:
    """The app as uvicorn serves it, for the little the ASGI transports leave out (see
    the module's docstring)."""

    def __init__(
        self, app: Callable[[Message, Receive, Send], Awaitable[None]], errors: list[BaseException]
    ) -> None:
        self.app = app
        self.errors = errors

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            try:
                await self.app(scope, receive, send)
            except Exception as exc:
                self.errors.append(exc)
                raise
            return
        closed = gone = False

        async def receive_() -> Message:
            nonlocal gone
            message = await receive()
            if message["type"] == "websocket.disconnect":
                gone = True
            return message

        async def send_(message: Message) -> None:
            nonlocal closed
            try:
                await send(message)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
                raise OSError("the client has disconnected") from exc
            if message["type"] == "websocket.close":
                closed = True

        try:
            await self.app(scope, receive_, send_)
        except Exception as exc:
            if not gone:
                self.errors.append(exc)
            raise
        if not (closed or gone):
            with contextlib.suppress(OSError):
                await send_({"type": "websocket.close", "code": 1000, "reason": ""})


def gateway_fixture(
    env: Mapping[str, str] | None = None,
    *,
    scope: Literal["function", "module", "package", "session"] = "function",
) -> Callable[[], AsyncIterator[InProcessGateway]]:
    """A pytest fixture of an in-process gateway with these ``GATEWAY_*`` variables,
    started for each test (``scope="function"``) or shared; its event loop has the same
    scope. Assign it to the fixture's name in a test module or conftest."""

    @pytest_asyncio.fixture(scope=scope, loop_scope=scope)
    async def gateway() -> AsyncIterator[InProcessGateway]:
        async with InProcessGateway(env) as gw:
            yield gw

    return gateway
