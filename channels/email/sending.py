"""What every mail the email touchpoint sends goes through, whoever asked for it (the
touchpoint's own conversations in outbound.py, other channels' mail in carrier.py): a
lost connection holds it, the SMTP submission, a copy in the Sent folder, the files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from channels.base import Core
from channels.email.compose import File
from channels.email.settings import EmailSettings
from channels.email.transport import Mailbox, MailError, Submission
from gateway.model.records import AttachmentRef, Touchpoint
from gateway.services.deliveries import Outcome, failed, held


class Sender:
    def __init__(
        self,
        core: Core,
        submission: Callable[[Touchpoint, EmailSettings], Submission],
        mailbox: Callable[[Touchpoint, EmailSettings], Mailbox],
        connection_lost: Callable[[Touchpoint, str], Awaitable[None]],
    ) -> None:
        self._core = core
        self._submission = submission
        self._mailbox = mailbox
        self._lost = connection_lost
        # how often a mail held by a lost connection asks again (an uncounted retry)
        self.hold_retry = 15.0

    async def _held(self, tp: Touchpoint) -> Outcome | None:
        """Held while the touchpoint's provider connection is marked lost."""
        connection = await self._core.state.connection(tp.id)
        if connection is not None and connection.status == "lost":
            return held(f"email provider connection lost: {connection.reason}", self.hold_retry)
        return None

    async def _submit(
        self, tp: Touchpoint, settings: EmailSettings, raw: bytes, to: Sequence[str]
    ) -> Outcome | list[str]:
        """Once the server accepted it, the recipients it refused meanwhile (the others
        have it: "address: code text" each); else what the delivery worker does next (a
        refused login marks the connection lost and holds the mail)."""
        try:
            return await self._submission(tp, settings).send(raw, settings.address, list(to))
        except MailError as exc:
            if exc.auth:
                await self._lost(tp, exc.reason)
                return held(exc.reason, self.hold_retry)
            return failed(exc.reason, retryable=exc.retryable)

    async def _keep_copy(self, tp: Touchpoint, settings: EmailSettings, raw: bytes) -> None:
        mailbox = self._mailbox(tp, settings)
        try:
            await mailbox.open()
            await mailbox.append(settings.sent_folder, raw)
        finally:
            await mailbox.close()

    async def _files(self, attachments: Sequence[AttachmentRef]) -> list[File]:
        """The files' bytes, read from the attachments service (each channel's rule kept
        them to its types and sizes when they were attached)."""
        out: list[File] = []
        for a in attachments:
            record = await self._core.attachments.get(a.id)
            blob = await self._core.attachments.read(record)
            out.append((a.name, a.content_type, b"".join([c async for c in blob.chunks])))
        return out
