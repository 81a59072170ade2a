"""One touchpoint's receiving loop: connect, resume from the stored cursor, import each
new email, advance the cursor, wait (IDLE or poll), and again; reconnect with backoff
when the connection drops.

The cursor (the folder's UIDVALIDITY and the last UID imported) moves only after an
email is stored, so a reconnect, a restart or another node resumes exactly where this
one stopped; an email fetched and not committed before a crash is fetched again and its
Message-ID makes the second import a no-op. A new UIDVALIDITY (the server renumbered the
folder) reads the folder again from the start, with the same protection. When a
touchpoint is first connected, the mail already in the folder is not imported: the
cursor starts at its last UID.

Credentials refused (or a folder that cannot be opened) mark the connection ``lost``
and the loop waits for an admin to reconnect (``Receiver.restart``); a network failure
is retried with backoff (1 s up to 5 min) and marked ``lost`` once reconnecting has
failed for ``LOST_AFTER`` seconds. An admin's reconnect of a working session
(``restart(drop=True)``) ends it at once: in IDLE (or a poll's wait) the wait is
cancelled, during a batch after the email being imported has been stored and the cursor
moved (an import is never cut: a half-stored email would lose its auto-reply); the
mailbox logs out and the next session resumes from the cursor. New settings (a
reauthentication's credentials) replace the receiver: the old one is stopped with
``stop(finish=True)``, which waits for the email being imported in the same way before
it cancels the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from channels.email.imap import IDLE_RENEW
from channels.email.settings import EmailSettings
from channels.email.transport import Mailbox, MailError
from gateway.aio import cancel_and_wait
from gateway.errors import GatewayError
from gateway.model.channel_state import ConnectionStatus
from gateway.model.records import Touchpoint
from gateway.services.channel_state import ChannelState

log = logging.getLogger("gateway.email")

LOST_AFTER = 60.0
MAX_BACKOFF = 300.0

Take = Callable[[Touchpoint, EmailSettings, bytes, int], Awaitable[bool]]
SetStatus = Callable[[Touchpoint, ConnectionStatus, str], Awaitable[None]]
Skipped = Callable[[Touchpoint, int, BaseException], Awaitable[None]]
# Sessions in a row one email may fail in for a reason of its own (not the store, the
# file storage or the mail server away) before it is skipped: one email must not hold
# every later one back for good.
POISON_TRIES = 3
# How long ``stop(finish=True)`` waits for the email being imported before it cuts it
# all the same: a store that hangs must not hold a configuration reload up for good.
FINISH_WITHIN = 60.0


class _Reconnect(Exception):
    """An admin asked to reconnect a working session (``Receiver.restart(drop=True)``)."""


class Receiver:
    def __init__(
        self,
        tp: Touchpoint,
        settings: EmailSettings,
        *,
        mailbox: Callable[[], Mailbox],
        take: Take,
        state: ChannelState,
        set_status: SetStatus,
        valid: Callable[[], bool],
        clock: Callable[[], float],
        stream: str = "",
        skipped: Skipped | None = None,
    ) -> None:
        self.tp = tp
        # the cursor's key: the folder (the demo mailbox: its folder in this process)
        self._stream = stream or settings.folder
        self.settings = settings
        self._mailbox = mailbox
        self._take = take
        self._state = state
        self._set_status = set_status
        self._valid = valid
        self._clock = clock
        self._skipped = skipped
        self._failures: dict[int, int] = {}  # UID -> sessions its import failed in
        self._task: asyncio.Task[None] | None = None
        self._retry_now = asyncio.Event()
        # an admin's reconnect: the working session ends (cleared once one connects)
        self._drop = asyncio.Event()
        self._opened = False
        # for tests and the status API: imports since start, and the last error
        self.imported = 0
        self.last_error = ""
        self.idle_entered = asyncio.Event()
        # set when a session ends in an error (cleared when the next one connects)
        self.disconnected = asyncio.Event()
        self._progress = asyncio.Condition()
        # held while an email is imported and its cursor moved: what a careful stop
        # waits for, and what no new import starts without
        self._storing = asyncio.Lock()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"email {self.tp.id}")

    async def stop(self, *, finish: bool = False, within: float = FINISH_WITHIN) -> None:
        """Stop the loop: at once (the lease lost), or with ``finish`` (a shutdown, the
        touchpoint's settings changed, a reauthentication) after the email being
        imported is stored, answered and its cursor moved, waiting at most ``within``
        seconds; the next receiver resumes from the cursor. Connecting, fetching or
        waiting for mail is cut either way: nothing is half-stored there."""
        held = False
        try:
            if finish and self.running:
                try:
                    async with asyncio.timeout(within):
                        # held until the loop has ended: no next import starts
                        await self._storing.acquire()
                        held = True
                except TimeoutError:
                    log.warning("email %s: an import still running is cut", self.tp.id)
        finally:  # a stop cancelled while it waits still ends the loop
            try:
                with contextlib.suppress(Exception):  # a run that failed: nothing to stop
                    await cancel_and_wait(self._task)
            finally:
                if held:
                    self._storing.release()
                self._task = None

    def restart(self, *, drop: bool = False) -> None:
        """An admin asked to reconnect: try again now, whatever the backoff says; with
        ``drop``, a working session also ends (at once, or after the email being
        imported) and the next one connects with the stored credentials."""
        self._retry_now.set()
        if drop:
            self._drop.set()

    async def until_imported(self, count: int, timeout: float = 30.0) -> None:
        """Wait until ``count`` emails were imported since start (tests, the demo)."""
        async with asyncio.timeout(timeout), self._progress:
            await self._progress.wait_for(lambda: self.imported >= count)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        backoff = 1.0
        failing_since: float | None = None
        while True:
            self._retry_now.clear()
            self._opened = False
            mailbox = self._mailbox()
            try:
                await self._session(mailbox)
            except _Reconnect:
                log.info("email %s: reconnecting, as an admin asked", self.tp.id)
                backoff, failing_since = 1.0, None
                continue  # after the finally's logout: no backoff
            except MailError as exc:
                self.disconnected.set()
                self.last_error = exc.reason
                now = self._clock()
                if self._opened:  # a working session dropped: reconnect at once
                    backoff, failing_since = 1.0, None
                failing_since = failing_since or now
                if not exc.retryable:
                    await self._set_status(self.tp, "lost", exc.reason)
                    log.warning("email %s: %s; waiting for an admin", self.tp.id, exc.reason)
                    await mailbox.close()
                    await self._retry_now.wait()
                    backoff, failing_since = 1.0, None
                    continue
                if now - failing_since >= LOST_AFTER:
                    await self._set_status(self.tp, "lost", exc.reason)
                log.info("email %s: %s; again in %.0f s", self.tp.id, exc.reason, backoff)
            except Exception:
                log.exception("email %s: receiving failed", self.tp.id)
            else:
                failing_since = None
            finally:
                await mailbox.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._retry_now.wait()
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _import(self, uid: int, got: tuple[bytes, int]) -> bool:
        """One email taken; a failure of its own, the POISON_TRIES-th in a row, skips it
        (False, the admins told) rather than ending the session once more."""
        try:
            taken = await self._take(self.tp, self.settings, *got)
        except Exception as exc:
            if isinstance(exc, MailError) or (isinstance(exc, GatewayError) and exc.retryable):
                raise  # the mail server or the store: the same email again once it is back
            tries = self._failures[uid] = self._failures.get(uid, 0) + 1
            if tries < POISON_TRIES:
                raise
            log.exception("email %s: UID %d failed %d times; skipped", self.tp.id, uid, tries)
            if self._skipped is not None:
                try:
                    await self._skipped(self.tp, uid, exc)
                except GatewayError as why:  # skipped all the same: the log says so
                    log.warning(
                        "email %s: UID %d skipped, admins not told: %s", self.tp.id, uid, why
                    )
            del self._failures[uid]
            return False
        self._failures.pop(uid, None)
        return taken

    async def _session(self, mailbox: Mailbox) -> None:
        folder = self._stream
        epoch = await mailbox.open()
        self._opened = True
        self.disconnected.clear()
        await self._set_status(self.tp, "connected", "")
        # a reconnect asked before this connection is answered by it
        self._drop.clear()
        self._retry_now.clear()
        self.last_error = ""
        cursor = await self._state.cursor(self.tp.id, folder)
        if cursor is None:
            # first connection: what is in the folder already is the mailbox's past
            uids = await mailbox.uids_after(0)
            await self._state.advance(self.tp.id, folder, epoch, uids[-1] if uids else 0)
        elif cursor.epoch != epoch:
            log.warning("email %s: UIDVALIDITY changed; reading %s again", self.tp.id, folder)
            await self._state.advance(self.tp.id, folder, epoch, 0)
        while True:
            cursor = await self._state.cursor(self.tp.id, folder)
            last = cursor.position if cursor is not None else 0
            for uid in await mailbox.uids_after(last):
                got = await mailbox.fetch(uid)
                async with self._storing:
                    if not self._valid():
                        raise MailError("this node no longer holds the mailbox's lease")
                    if got is not None and await self._import(uid, got):
                        self.imported += 1
                    await self._state.advance(self.tp.id, folder, epoch, uid)
                async with self._progress:
                    self._progress.notify_all()
                if self._drop.is_set():  # the rest of the batch: the next session's
                    raise _Reconnect()
            self.idle_entered.set()
            try:
                await self._wait(mailbox)
            finally:
                self.idle_entered.clear()

    async def _wait(self, mailbox: Mailbox) -> None:
        """The folder's wait (IDLE or a poll), ended at once by an admin's reconnect."""
        waiting = asyncio.create_task(mailbox.wait(IDLE_RENEW))
        asked = asyncio.create_task(self._drop.wait())
        try:
            await asyncio.wait({waiting, asked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            asked.cancel()
            if not waiting.done():
                # ends IDLE's wait; the mailbox's close sends DONE, then LOGOUT
                await cancel_and_wait(waiting)
        if not waiting.cancelled():
            waiting.result()  # the connection lost meanwhile: MailError
        if self._drop.is_set():
            raise _Reconnect()
