"""The integration API's credentials and replays: API keys and idempotency keys.

**API keys** (docs/security.md, "API keys"). A key is ``gk_`` and 43 URL-safe characters:
256 random bits. The gateway keeps its SHA-256 digest, never the key, and shows the key
once, when it is made. A fast unkeyed hash is the right tool here (argon2 is for
passwords people choose): nobody can guess or brute-force a 256-bit random value from
its digest, and looking a key up by its digest is one indexed query per request. Keys
belong to one touchpoint; a touchpoint may have several (to rotate without downtime),
each revocable at once.

**Idempotency keys.** Every POST of the integration API may carry an ``Idempotency-Key``
header: the first request with a key runs and its answer is kept (for
GATEWAY_IDEMPOTENCY_TTL); a replay of the same request gets the same answer, and
nothing runs twice. The same key with another request is refused (422), and so is a
replay while the first request still runs (409).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from typing import Final

from gateway.auth import new_id
from gateway.errors import AuthError, Conflict, Forbidden, InvalidInput
from gateway.model.integrations import ApiKey, IdempotencyRecord
from gateway.ports.store.base import Store

KEY_PREFIX: Final = "gk_"
SHOWN_PREFIX: Final = 10  # characters of a key shown in lists ("gk_" and 7 more)
MAX_IDEMPOTENCY_KEY: Final = 255
_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeys:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    async def create(self, touchpoint_id: str, name: str) -> tuple[ApiKey, str]:
        """A new key for the touchpoint: the record, and the key itself (shown once)."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(
            id=new_id("key"),
            touchpoint_id=touchpoint_id,
            name=name,
            digest=key_digest(key),
            prefix=key[:SHOWN_PREFIX],
            created_at=self._clock(),
        )
        await self._store.create_api_key(record)
        return record, key

    async def list(self, touchpoint_id: str) -> list[ApiKey]:
        return await self._store.list_api_keys(touchpoint_id)

    async def revoke(self, touchpoint_id: str, key_id: str) -> ApiKey:
        return await self._store.revoke_api_key(touchpoint_id, key_id, self._clock())

    async def authenticate(self, touchpoint_id: str, presented: str) -> ApiKey:
        """The key a request presents, if it is a live key of this touchpoint: 401 for
        none, an unknown or a revoked key; 403 for a key of another touchpoint."""
        if not presented:
            raise AuthError("an API key is required: Authorization: Bearer gk_...")
        record = (
            await self._store.api_key_by_digest(key_digest(presented))
            if presented.startswith(KEY_PREFIX)
            else None
        )
        if record is None or record.revoked_at is not None:
            raise AuthError("unknown or revoked API key", code="invalid_api_key")
        if record.touchpoint_id != touchpoint_id:
            raise Forbidden("this API key belongs to another touchpoint")
        return record


class Idempotency:
    def __init__(self, store: Store, clock: Callable[[], float], ttl: float) -> None:
        self._store = store
        self._clock = clock
        self.ttl = ttl

    @staticmethod
    def check_key(key: str) -> str:
        if not _IDEMPOTENCY_KEY.fullmatch(key):
            raise InvalidInput(
                [("Idempotency-Key", f"1..{MAX_IDEMPOTENCY_KEY} visible ASCII characters")]
            )
        return key

    async def begin(self, scope: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
        """None: this is the first request with the key (run it, then ``finish``). A
        record: the first request's answer, to replay."""
        now = self._clock()
        record = await self._store.claim_idempotency(
            scope, self.check_key(key), fingerprint, now, now + self.ttl
        )
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise InvalidInput(
                [("Idempotency-Key", "this key was used for another request")],
                code="idempotency_key_reused",
            )
        if record.status == 0:
            raise Conflict(
                "the first request with this Idempotency-Key is still running; retry later",
                code="idempotency_in_progress",
            )
        return record

    async def finish(self, scope: str, key: str, status: int, body: str) -> None:
        await self._store.finish_idempotency(scope, key, status, body)

    async def release(self, scope: str, key: str) -> None:
        await self._store.release_idempotency(scope, key)

    async def remember(self, scope: str, key: str, ttl: float) -> bool:
        """Whether ``key`` was seen in ``scope`` within ``ttl`` (remembering it now):
        a replay guard (a signed request's signature is used once)."""
        now = self._clock()
        return await self._store.claim_idempotency(scope, key, "", now, now + ttl) is not None
