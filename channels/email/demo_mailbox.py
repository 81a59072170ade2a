"""The demo mailbox: an in-process post office for ``./scripts/serve``, so that a
newcomer can email the demo touchpoint with nothing installed (no mail server).

A touchpoint whose ``provider`` is ``demo`` reads its mail from here and sends its mail
here, through the same Mailbox and Submission interfaces as IMAP and SMTP: the receiving
loop, the cursor, MIME parsing, threading, auto-reply and the delivery worker all run as
they do for a real mailbox. The demo page (``/demo/email``) writes as the customer (a
real RFC 5322 message, built with the standard library) and reads what was sent to the
customer's address. It lives in the process's memory: a restart empties it (and gives it
a new UIDVALIDITY, so the stored cursor starts over).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from channels.email.transport import Fetched, MailError


@dataclass
class Folder:
    messages: dict[int, bytes] = field(default_factory=dict)
    next_uid: int = 1
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, raw: bytes) -> int:
        uid = self.next_uid
        self.next_uid += 1
        self.messages[uid] = raw
        self.changed.set()
        return uid


class PostOffice:
    """Every demo mailbox of this process, by address and folder, and what was sent to
    each outside address."""

    MAX_MESSAGES = 1000

    def __init__(self) -> None:
        self.uidvalidity = str(int(time.time()))
        self._folders: dict[tuple[str, str], Folder] = {}
        self.delivered: dict[str, list[bytes]] = {}

    def folder(self, address: str, name: str) -> Folder:
        return self._folders.setdefault((address.lower(), name), Folder())

    def deliver(self, raw: bytes, recipients: list[str], mailboxes: set[str]) -> None:
        for rcpt in recipients:
            if rcpt.lower() in mailboxes:
                self.folder(rcpt, "INBOX").add(raw)
            else:
                box = self.delivered.setdefault(rcpt.lower(), [])
                box.append(raw)
                del box[: -self.MAX_MESSAGES]


class DemoMailbox:
    def __init__(self, office: PostOffice, address: str, folder: str) -> None:
        self._office = office
        self._address = address
        self._folder = folder
        self._open = False

    def _box(self, name: str = "") -> Folder:
        if not self._open:
            raise MailError("demo mailbox: not open")
        return self._office.folder(self._address, name or self._folder)

    async def open(self) -> str:
        self._open = True
        return self._office.uidvalidity

    async def uids_after(self, last_uid: int) -> list[int]:
        box = self._box()
        box.changed.clear()
        return sorted(u for u in box.messages if u > last_uid)

    async def fetch(self, uid: int) -> Fetched | None:
        raw = self._box().messages.get(uid)
        return None if raw is None else Fetched(raw, len(raw))

    async def wait(self, timeout: float) -> None:
        box = self._box()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await box.changed.wait()

    async def contains(self, folder: str, message_id: str) -> bool:
        needle = f"Message-ID: {message_id}".encode().lower()
        return any(needle in raw.lower() for raw in self._box(folder).messages.values())

    async def append(self, folder: str, raw: bytes) -> None:
        self._box(folder).add(raw)

    async def close(self) -> None:
        self._open = False


class DemoSubmission:
    def __init__(self, office: PostOffice, mailboxes: set[str]) -> None:
        self._office = office
        self._mailboxes = mailboxes

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> list[str]:
        self._office.deliver(raw, recipients, self._mailboxes)
        return []
