"""Files between the gateway and a messaging provider, both ways.

Inbound, a contact's media are fetched from the provider as the core reads them
(:func:`download`: an ``InboundFile.open`` that streams the response; a failed download
is an ``OSError`` the core turns into the agent's notice). Outbound, a provider fetches
the files of the message it is asked to send from a signed, short-lived link to this
gateway (:func:`public_link`, the attachment service's ``provider_link``), reached at
``GATEWAY_PUBLIC_URL`` like the webhooks; docs/attachments.md, "Files on messaging
channels".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import httpx

from channels.base import Core
from channels.webhooks import base_url
from gateway.model.attachment_rules import FILE_TYPES
from gateway.model.records import Conversation

Open = Callable[[], AsyncIterator[bytes]]


def download(http: httpx.AsyncClient, url: str, provider: str, **request: object) -> Open:
    """Stream ``url`` when the core opens the file; OSError (or TimeoutError) when the
    provider does not give it (its answer is not 200, the connection breaks)."""

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async with http.stream("GET", url, **request) as response:  # type: ignore[arg-type]
                if response.status_code != 200:
                    raise OSError(f"{provider} answered {response.status_code}")
                async for chunk in response.aiter_bytes():
                    yield chunk
        except httpx.TimeoutException:
            raise TimeoutError(f"{provider} did not send it in time") from None
        except httpx.HTTPError as exc:
            raise OSError(f"{provider} could not be reached ({type(exc).__name__})") from None

    return chunks


def http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def under(url: str, base: str) -> bool:
    """Whether ``url`` is on the provider's API (``base``): its credentials go nowhere else."""
    u, b = urlsplit(url), urlsplit(base)
    return (u.scheme, u.netloc) == (b.scheme, b.netloc) and u.path.startswith(b.path.rstrip("/"))


def name_from_url(url: str, fallback: str) -> str:
    """The file name a media URL ends with, when it has a known extension; else
    ``fallback`` (the gateway gives it the extension of the type it finds)."""
    name = unquote(PurePosixPath(urlsplit(url).path).name)
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    known = any(ext in t.extensions for t in FILE_TYPES.values())
    return name if known and 0 < len(name) <= 120 else fallback


def public_link(core: Core, conv: Conversation, attachment_id: str) -> str:
    """An absolute, signed link the conversation's provider fetches the file from."""
    path = core.attachments.provider_link(conv.id, attachment_id, conv.channel)
    return base_url(core.settings) + path
