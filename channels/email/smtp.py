"""Sending through the mailbox's SMTP server, with aiosmtplib: TLS (implicit) or
STARTTLS, password or XOAUTH2; its errors leave this module as MailError (4xx and
network trouble retryable, 5xx and refused credentials not), and the recipients it
refused of a message it took for the others are returned."""

from __future__ import annotations

import aiosmtplib

from channels.email.settings import EmailSettings
from channels.email.transport import MailError

TIMEOUT = 60.0


class SmtpSubmission:
    def __init__(self, settings: EmailSettings) -> None:
        self._s = settings

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> list[str]:
        s, server = self._s, self._s.smtp
        secret = s.oauth_token

        async def token() -> str:
            return secret

        try:
            refused, _ = await aiosmtplib.send(
                raw,
                sender=sender,
                recipients=recipients,
                hostname=server.host,
                port=server.port,
                use_tls=server.security == "tls",
                start_tls=server.security == "starttls",
                username=s.login,
                password=s.password if s.auth == "password" else None,
                oauth_token_generator=token if s.auth == "oauth2" else None,
                timeout=TIMEOUT,
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            if 400 <= exc.code < 500:  # 454: a temporary authentication failure
                raise MailError(f"SMTP login: {exc.code} {exc.message}") from exc
            raise MailError(
                "the mail server refused the credentials (reconnect or reauthenticate)",
                auth=True,
            ) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            why = "; ".join(f"{e.recipient}: {e.code} {e.message}" for e in exc.recipients)
            raise MailError(
                f"the mail server refused the recipients ({why})",
                retryable=all(400 <= c < 500 for c in codes),
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise MailError(
                f"the mail server refused the message: {exc.code} {exc.message}",
                retryable=400 <= exc.code < 500,
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise MailError(f"SMTP: {type(exc).__name__}: {exc}") from exc
        # the server took the message for the others: aiosmtplib raises only when it
        # refuses every recipient
        return [f"{rcpt}: {r.code} {r.message}" for rcpt, r in refused.items()]
