"""Tokens and passwords.

Two kinds of token, both JWTs signed with HS256 (PyJWT) under the gateway's secret key:

* a **visitor session token**, issued by the widget bootstrap, short-lived
  (``GATEWAY_VISITOR_TOKEN_TTL``), bound to the touchpoint, the Origin the bootstrap came
  from, the page's origin and the visitor id; renewed over the socket while it is open;
* an **agent token**, issued at login, bound to a login session that can be revoked
  (logout, admin action) before it expires.

Passwords are hashed with Argon2id (argon2-cffi). See docs/security.md.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import jwt
import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.errors import TokenExpired, TokenInvalid, Unavailable
from gateway.settings import Settings

ALGORITHM = "HS256"
T = TypeVar("T")


class Identity(msgspec.Struct, frozen=True):
    """A visitor identity the site signed and channels/chat/identity.py verified."""

    email: str = ""
    phone: str = ""
    name: str = ""

    @property
    def fingerprint(self) -> str:
        """Who this is, without the display name: a visitor id stays bound to it."""
        raw = f"{self.email.lower()}\n{self.phone}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]


class VisitorClaims(msgspec.Struct, frozen=True):
    tp: str  # touchpoint id
    org: str  # the Origin the token may be used from
    page: str  # the origin of the page the widget runs on
    vid: str  # visitor id
    exp: float
    iat: float
    first: float  # when this visitor was first seen (kept through renewals)
    # The identity verified by this session's bootstrap (kept through renewals) ...
    em: str = ""
    ph: str = ""
    nm: str = ""
    # ... and the fingerprint of the identity this visitor id is bound to, kept across
    # bootstraps: another signed identity never inherits this visitor id.
    who: str = ""

    @property
    def identity(self) -> Identity | None:
        if not (self.em or self.ph):
            return None
        return Identity(email=self.em, phone=self.ph, name=self.nm)


class AgentClaims(msgspec.Struct, frozen=True):
    sub: str  # agent id
    sid: str  # login session id (revocable)
    exp: float


def new_id(prefix: str) -> str:
    """A random, URL-safe id with a readable prefix (e.g. ``cv_3kT9...``)."""
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def load_secret(settings: Settings) -> bytes:
    """The signing key: GATEWAY_SECRET_KEY, or one generated once and kept in the data
    directory (fine for one node; several nodes must share GATEWAY_SECRET_KEY)."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.prepare_data_dir() / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    key = secrets.token_urlsafe(48).encode()
    path.touch(mode=0o600)
    path.write_bytes(key)
    return key


class Tokens:
    """Issues and verifies tokens. Verification raises TokenExpired or TokenInvalid."""

    def __init__(
        self, secret: bytes, *, visitor_ttl: float, agent_ttl: float, visitor_grace: float = 0.0
    ) -> None:
        self._secret = secret
        self.visitor_ttl = visitor_ttl
        # A visitor keeps their visitor id across page loads by presenting their last
        # token to the bootstrap, up to this long after it expired (a reload after a
        # short absence); a token older than that buys nothing.
        self.visitor_grace = visitor_grace
        self.agent_ttl = agent_ttl

    def _encode(self, typ: str, claims: dict[str, Any]) -> str:
        return jwt.encode({"typ": typ, **claims}, self._secret, algorithm=ALGORITHM)

    def _decode(self, token: str, typ: str, *, verify_exp: bool = True) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "typ"], "verify_exp": verify_exp},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("the token has expired") from None
        except jwt.PyJWTError:
            raise TokenInvalid("the token is not valid") from None
        if claims.get("typ") != typ:
            raise TokenInvalid(f"not a {typ} token")
        return claims

    # -- visitors ------------------------------------------------------------------
    def issue_visitor(
        self,
        *,
        touchpoint_id: str,
        origin: str,
        page_origin: str,
        visitor_id: str,
        now: float,
        first_seen: float | None = None,
        identity: Identity | None = None,
        bound: str = "",
    ) -> tuple[str, VisitorClaims]:
        claims = VisitorClaims(
            tp=touchpoint_id,
            org=origin,
            page=page_origin,
            vid=visitor_id,
            exp=now + self.visitor_ttl,
            iat=now,
            first=first_seen or now,
            em=identity.email if identity else "",
            ph=identity.phone if identity else "",
            nm=identity.name if identity else "",
            who=bound or (identity.fingerprint if identity else ""),
        )
        data = msgspec.structs.asdict(claims)
        for optional in ("em", "ph", "nm", "who"):
            if not data[optional]:
                del data[optional]
        return self._encode("visitor", data), claims

    def verify_visitor(self, token: str, *, verify_exp: bool = True) -> VisitorClaims:
        data = self._decode(token, "visitor", verify_exp=verify_exp)
        try:
            return msgspec.convert({k: v for k, v in data.items() if k != "typ"}, VisitorClaims)
        except msgspec.ValidationError:
            raise TokenInvalid("malformed visitor token") from None

    def remembered_visitor(
        self, token: str, touchpoint_id: str, now: float
    ) -> VisitorClaims | None:
        """The visitor an earlier token of this touchpoint names, if it is authentic and
        expired at most ``visitor_grace`` seconds ago; None otherwise."""
        try:
            claims = self.verify_visitor(token, verify_exp=False)
        except TokenInvalid:
            return None
        if claims.tp != touchpoint_id or now > claims.exp + self.visitor_grace:
            return None
        return claims

    # -- agents --------------------------------------------------------------------
    def issue_agent(self, *, agent_id: str, session_id: str, now: float) -> tuple[str, AgentClaims]:
        claims = AgentClaims(sub=agent_id, sid=session_id, exp=now + self.agent_ttl)
        return self._encode("agent", msgspec.structs.asdict(claims)), claims

    def verify_agent(self, token: str) -> AgentClaims:
        data = self._decode(token, "agent")
        try:
            return AgentClaims(sub=str(data["sub"]), sid=str(data["sid"]), exp=float(data["exp"]))
        except (KeyError, TypeError, ValueError):
            raise TokenInvalid("malformed agent token") from None


class FileLinks:
    """Signatures of attachment links (docs/attachments.md, "Safe serving"): HMAC-SHA256,
    under a key derived from the gateway's secret for this use only, over the
    attachment, the variant (file or thumbnail), the conversation, the reader and the
    expiry. A link is worth nothing for another file, conversation or reader, or late."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"gateway attachment links v1", hashlib.sha256).digest()

    def sign(
        self, *, attachment_id: str, variant: str, conversation_id: str, reader: str, expires: int
    ) -> str:
        data = "\n".join((attachment_id, variant, conversation_id, reader, str(expires)))
        mac = hmac.new(self._key, data.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def verify(
        self,
        signature: str,
        *,
        attachment_id: str,
        variant: str,
        conversation_id: str,
        reader: str,
        expires: int,
        now: float,
    ) -> None:
        """TokenExpired after ``expires``; TokenInvalid for any other mismatch."""
        expected = self.sign(
            attachment_id=attachment_id,
            variant=variant,
            conversation_id=conversation_id,
            reader=reader,
            expires=expires,
        )
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise TokenInvalid("this link is not valid")
        if now > expires:
            raise TokenExpired("this link has expired: ask for a new one")


_hasher = PasswordHasher()

# An unknown email's login is checked against this, so that it costs what a real check
# costs and its timing does not tell who has an account: the hash of a password nobody
# has, made once with the hasher's parameters (a test keeps them the same) rather than
# at every start of the process (an Argon2 hash is about 0.3 s of CPU).
NOBODY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$KaVDup7MbnVdtbkLyYl6/A$"
    "OBeOni0fctEVN3ACT/zP05OmgBNCaJKuavw2A1+Bb1Q"
)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Constant-time check; False for a wrong password or an unusable hash. An unusable
    one (an account made without a password: "") is checked against NOBODY_HASH all the
    same, or its answer, 100 times sooner, would tell such accounts apart."""
    try:
        return _hasher.verify(stored_hash, password)
    except VerificationError:
        return False
    except InvalidHashError:
        with contextlib.suppress(VerificationError):
            _hasher.verify(NOBODY_HASH, password)
        return False


class Passwords:
    """Argon2 off the event loop: each hash or check runs in one worker thread of its own
    (argon2-cffi releases the GIL), one at a time, so a login costs the other clients no
    event-loop time. The thread runs at a lower CPU priority (nice +10 on Linux, inherited
    by the threads Argon2 starts for its four lanes): when the cores are busy, the event
    loop gets them first and a flood of logins slows the logins, not the conversations. At
    most ``waiting`` checks may wait; more are refused with Unavailable (503, retryable)
    rather than queued without bound. A caller that goes away does not free its place
    before its check has run."""

    def __init__(self, waiting: int) -> None:
        self._worker = ThreadPoolExecutor(
            1, thread_name_prefix="passwords", initializer=_lower_priority
        )
        self._max_waiting = waiting
        self.waiting = 0

    async def verify(self, stored_hash: str, password: str) -> bool:
        return await self._run(verify_password, stored_hash, password)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def _run(self, fn: Callable[..., T], *args: str) -> T:
        if self.waiting >= self._max_waiting:
            raise Unavailable("too many logins at once; try again shortly", code="busy")
        self.waiting += 1
        done = asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)
        done.add_done_callback(self._finished)
        return await asyncio.shield(done)

    def _finished(self, _: object) -> None:
        self.waiting -= 1

    def close(self) -> None:
        """Let the worker thread end once the checks under way are done."""
        self._worker.shutdown(wait=False)


PASSWORD_NICE = 10


def _lower_priority() -> None:
    if sys.platform == "linux":  # per thread there; elsewhere it would renice the process
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_NICE)


def now() -> float:
    return time.time()
