"""Media in the emulators, as the providers handle them: what a contact's phone sends is
kept and served to the gateway (behind the provider's credentials), and what the
gateway sends is fetched from the link it gives, as the provider would, then checked
against the provider's documented types and sizes."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Medium:
    content_type: str
    data: bytes
    name: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "content_type": self.content_type,
            "size": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
            "name": self.name,
        }


class MediaStore:
    """The media contacts sent, by id."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._ids = itertools.count(1)
        self.items: dict[str, Medium] = {}

    def put(self, spec: dict[str, Any], suffix: str = "") -> str:
        """Keep a medium given as ``{"content_type", "data" (base64), "name"}``; its id
        (``suffix`` makes it unguessable, for media served without credentials)."""
        media_id = f"{self._prefix}{next(self._ids):08d}{suffix}"
        self.items[media_id] = Medium(
            str(spec.get("content_type", "application/octet-stream")),
            base64.b64decode(str(spec.get("data", ""))),
            str(spec.get("name", "")),
        )
        return media_id

    def add(self, medium: Medium, suffix: str = "") -> str:
        media_id = f"{self._prefix}{next(self._ids):08d}{suffix}"
        self.items[media_id] = medium
        return media_id


@dataclass
class Fetched:
    """What the provider got from a link: ``error`` says why it could not use it."""

    medium: Medium | None
    error: str = ""  # "" | "unreachable" | "status" | "too_large"


async def fetch(http: httpx.AsyncClient, url: str, max_bytes: int) -> Fetched:
    """GET ``url`` as the provider does, reading at most ``max_bytes`` (one more byte
    says it is too large)."""
    try:
        async with http.stream("GET", url) as r:
            if r.status_code != 200:
                return Fetched(None, "status")
            data = bytearray()
            async for chunk in r.aiter_bytes():
                data += chunk
                if len(data) > max_bytes:
                    return Fetched(None, "too_large")
            ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
            named = re.search(r'filename="([^"]*)"', r.headers.get("content-disposition", ""))
            name = named[1] if named else ""
            return Fetched(Medium(ctype, bytes(data), name))
    except httpx.HTTPError:
        return Fetched(None, "unreachable")
