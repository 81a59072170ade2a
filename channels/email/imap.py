"""The IMAP mailbox, through aioimaplib: password or XOAUTH2 login, TLS by default,
IDLE when the server has it and polling when it does not. Every aioimaplib or socket
error leaves this module as a MailError."""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import AsyncIterator, Callable

import aioimaplib

from channels.email.settings import EmailSettings
from channels.email.transport import MAX_RAW_BYTES, Fetched, MailError

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
# IDLE is renewed before the 29 minutes RFC 2177 allows.
IDLE_RENEW = 25 * 60.0
TIMEOUT = 30.0


def _line(value: bytes | bytearray | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


@contextlib.asynccontextmanager
async def _translated(what: str) -> AsyncIterator[None]:
    try:
        yield
    except MailError:
        raise
    except TimeoutError as exc:
        raise MailError(f"IMAP {what}: the server did not answer in time") from exc
    except ssl.SSLError as exc:
        raise MailError(f"IMAP {what}: TLS failed ({exc.reason})", retryable=False) from exc
    except (OSError, aioimaplib.AioImapException, ConnectionError) as exc:
        raise MailError(f"IMAP {what}: {type(exc).__name__}: {exc}") from exc


def login_refused(lines: list[bytes | bytearray | str]) -> MailError:
    """Why a login was refused. ``[UNAVAILABLE]`` (RFC 5530) is the server's own trouble,
    such as Dovecot's auth process restarting: tried again by itself. Anything else
    means the credentials: an admin must reconnect or reauthenticate."""
    said = b" ".join(_line(line) for line in lines).decode(errors="replace").strip()
    if "[UNAVAILABLE]" in said.upper():
        return MailError(f"IMAP login: the server is unavailable for now ({said})")
    return MailError(
        "the mail server refused the credentials (reconnect or reauthenticate)", auth=True
    )


class _Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """aioimaplib's protocol, answering a challenge during AUTHENTICATE. A server that
    refuses an XOAUTH2 token sends the reason as a challenge (Gmail's, Microsoft's and
    Dovecot's do: ``+ <base64 JSON>``) and gives its tagged NO only after an empty
    response; aioimaplib would wait for that NO forever."""

    def _continuation(self, line: bytes) -> None:
        command = self.pending_sync_command
        if command is not None and command.name == "AUTHENTICATE":
            command.append_to_resp(line)
            self.transport.write(b"\r\n")
            return
        super()._continuation(line)


class _Client(aioimaplib.IMAP4):  # type: ignore[misc]
    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Callable[[Exception | None], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        # as aioimaplib's, with the protocol above
        running = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = _Protocol(running, conn_lost_cb)
        self._client_task = running.create_task(
            running.create_connection(lambda: self.protocol, host, port, ssl=ssl_context)
        )


class ImapMailbox:
    def __init__(self, settings: EmailSettings, folder: str = "") -> None:
        self._s = settings
        self._folder = folder or settings.folder
        self._client: aioimaplib.IMAP4 | None = None
        self._lost = asyncio.Event()
        self._idle = False

    def _require(self) -> aioimaplib.IMAP4:
        if self._client is None or self._lost.is_set():
            raise MailError("IMAP: the connection is closed")
        return self._client

    def _on_lost(self, exc: Exception | None) -> None:
        self._lost.set()

    async def open(self) -> str:
        server = self._s.imap
        context = ssl.create_default_context() if server.security == "tls" else None
        async with _translated("connect"):
            client = _Client(
                host=server.host,
                port=server.port,
                timeout=TIMEOUT,
                conn_lost_cb=self._on_lost,
                ssl_context=context,
            )
            self._client = client
            await client.wait_hello_from_server()
        # bounded: a server that never answers the login is retried, not waited on forever
        async with _translated("login"), asyncio.timeout(TIMEOUT):
            if self._s.auth == "oauth2":
                response = await client.xoauth2(self._s.login, self._s.oauth_token)
            else:
                response = await client.login(self._s.login, self._s.password)
        if response.result != "OK":
            raise login_refused(response.lines)
        async with _translated("select"):
            response = await client.select(_quote(self._folder))
        if response.result != "OK":
            raise MailError(f"IMAP: the folder {self._folder!r} cannot be opened", retryable=False)
        for line in response.lines:
            match = _UIDVALIDITY.search(_line(line))
            if match:
                self._idle = client.has_capability("IDLE")
                return match.group(1).decode()
        raise MailError("IMAP: the server gave no UIDVALIDITY", retryable=False)

    async def uids_after(self, last_uid: int) -> list[int]:
        client = self._require()
        async with _translated("search"):
            response = await client.uid_search(f"UID {last_uid + 1}:*", charset=None)
        if response.result != "OK":
            raise MailError("IMAP: UID SEARCH failed")
        uids = _search_result(response.lines)
        # "n:*" names the last message even below n (RFC 3501): keep only newer ones
        return sorted(u for u in set(uids) if u > last_uid)

    async def fetch(self, uid: int) -> Fetched | None:
        # Its size first: an email over the limit is not taken into memory, only its
        # header section (RFC 3501 6.4.5), which the agent's notice is made of.
        size = None
        for line in await self._fetched(uid, "RFC822.SIZE"):
            match = _SIZE.search(_line(line))
            if match:
                size = int(match.group(1))
        if size is None:
            return None  # expunged since it was listed
        part = "BODY.PEEK[]" if size <= MAX_RAW_BYTES else "BODY.PEEK[HEADER]"
        for line in await self._fetched(uid, part):
            if isinstance(line, bytearray):
                return Fetched(bytes(line), size)
        return None

    async def _fetched(self, uid: int, items: str) -> list[bytes | bytearray | str]:
        client = self._require()
        async with _translated("fetch"):
            response = await client.uid("fetch", str(uid), f"({items})")
        if response.result != "OK":
            raise MailError(f"IMAP: fetching UID {uid} failed")
        lines: list[bytes | bytearray | str] = response.lines
        return lines

    async def wait(self, timeout: float) -> None:
        client = self._require()
        if not self._idle:
            await self._sleep(min(timeout, self._s.poll_interval))
            return
        async with _translated("idle"):
            idle = await client.idle_start(timeout=min(timeout, IDLE_RENEW))
            lost = asyncio.ensure_future(self._lost.wait())
            push = asyncio.ensure_future(client.wait_server_push(timeout=min(timeout, IDLE_RENEW)))
            try:
                await asyncio.wait({lost, push}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
                push.cancel()
            pushed = push.result() if push.done() and not push.cancelled() else None
            if self._lost.is_set() or _says_bye(pushed):
                self._lost.set()
                raise MailError("IMAP: the connection was lost during IDLE")
            client.idle_done()
            async with asyncio.timeout(TIMEOUT):
                await idle

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._lost.wait()
        if self._lost.is_set():
            raise MailError("IMAP: the connection was lost")
        # a NOOP both keeps the session and notices a dead one
        async with _translated("noop"):
            await self._require().noop()

    async def contains(self, folder: str, message_id: str) -> bool:
        client = self._require()
        async with _translated("search"):
            selected = await client.examine(_quote(folder))
            if selected.result != "OK":
                return False
            try:
                response = await client.uid_search(
                    "HEADER", "Message-ID", _quote(message_id), charset=None
                )
            finally:
                await client.select(_quote(self._folder))
        return response.result == "OK" and bool(_search_result(response.lines))

    async def append(self, folder: str, raw: bytes) -> None:
        client = self._require()
        async with _translated("append"):
            response = await client.append(raw, mailbox=_quote(folder), flags="(\\Seen)")
            if response.result != "OK":
                await client.create(_quote(folder))
                response = await client.append(raw, mailbox=_quote(folder), flags="(\\Seen)")
        if response.result != "OK":
            raise MailError(f"IMAP: could not keep a copy in {folder!r}")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            if not self._lost.is_set():
                if client.has_pending_idle():
                    # the reader was stopped in IDLE: a LOGOUT would queue behind it
                    # until the timeout (5 s per mailbox at every shutdown), so end it
                    client.idle_done()
                async with asyncio.timeout(5):
                    await client.logout()
        with contextlib.suppress(Exception):
            transport = client.protocol.transport
            if transport is not None:
                transport.close()


def _says_bye(pushed: object) -> bool:
    """Whether what IDLE received is the server closing the session (``* BYE``)."""
    lines = pushed if isinstance(pushed, list) else [pushed]
    return any(
        isinstance(line, bytes | bytearray | str) and _line(line).lstrip(b"* ").startswith(b"BYE")
        for line in lines
    )


def _search_result(lines: list[bytes | bytearray | str]) -> list[int]:
    """The numbers of a SEARCH response (aioimaplib may or may not keep the word)."""
    found: list[int] = []
    for line in lines:
        tokens = _line(line).split()
        if tokens and tokens[0].upper() == b"SEARCH":
            tokens = tokens[1:]
        if tokens and all(t.isdigit() for t in tokens):
            found += [int(t) for t in tokens]
    return found


def _quote(value: str) -> str:
    """An IMAP quoted string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
