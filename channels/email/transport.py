"""What the email channel needs of a mailbox and of a mail server, as two small
interfaces, and the errors they raise (translated at the boundary from aioimaplib's and
aiosmtplib's own). Implementations: IMAP and SMTP (imap.py, smtp.py) and the
in-process demo mailbox (demo_mailbox.py)."""

from __future__ import annotations

from typing import NamedTuple, Protocol

# An email past this is not read: its header section is, and the agent is told.
MAX_RAW_BYTES = 40 * 1024 * 1024


class Fetched(NamedTuple):
    """One message as the mailbox gave it: ``raw`` the whole message, or only its header
    section when ``size`` (the whole message's, as the server counts it) is over
    MAX_RAW_BYTES."""

    raw: bytes
    size: int


class MailError(Exception):
    """Reaching the mailbox or the mail server failed. ``auth``: the credentials were
    refused (an admin must reconnect or reauthenticate); ``retryable``: it may work
    later by itself (a timeout, a dropped connection, a 4xx)."""

    def __init__(self, reason: str, *, retryable: bool = True, auth: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable and not auth
        self.auth = auth


class Mailbox(Protocol):
    """One open session on a mailbox folder."""

    async def open(self) -> str:
        """Connect, log in and select the folder; its UIDVALIDITY."""
        ...

    async def uids_after(self, last_uid: int) -> list[int]:
        """The folder's UIDs greater than ``last_uid``, ascending."""
        ...

    async def fetch(self, uid: int) -> Fetched | None:
        """The raw message (without marking it read), only its header section past
        MAX_RAW_BYTES; None when it was expunged."""
        ...

    async def wait(self, timeout: float) -> None:
        """Return when the folder may have changed (IDLE push, or a poll period), or
        after ``timeout``; MailError when the connection is lost."""
        ...

    async def contains(self, folder: str, message_id: str) -> bool:
        """Whether ``folder`` holds a message with this Message-ID."""
        ...

    async def append(self, folder: str, raw: bytes) -> None:
        """Keep a copy of a sent message (created if need be), marked read."""
        ...

    async def close(self) -> None: ...


class Submission(Protocol):
    """A mail server that takes messages for delivery."""

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> list[str]:
        """Hand one message over; MailError (retryable or not) when it is refused. The
        recipients refused while the others took it ("address: code text" each)."""
        ...
