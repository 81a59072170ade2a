"""Rate limits against abuse, with the ``limits`` library (docs/security.md#limits).

* **frames per connection per minute** (``GATEWAY_FRAMES_PER_MINUTE``): counted for each
  socket in this process (a socket lives on one node). A frame over the limit is not
  processed and gets an ``error`` frame ``rate_limited``; after :data:`FRAME_GRACE`
  refused frames in a row the socket is closed with 4029.
* **connections per IP per hour** (``GATEWAY_CONNECTIONS_PER_IP_PER_HOUR``): WebSocket
  handshakes (closed with 4029 over it) and, counted apart, widget bootstraps (429).
* **new conversations per IP per hour** and **per touchpoint per hour**: ``start`` over
  either gets an ``error`` frame ``rate_limited``. A start that makes no conversation
  (it joins the one another node made at the same instant) is given back.
* **logins per IP per minute** and **failed logins per account per hour**: ``/api/login``
  over either answers 429 before any password is checked. A new password (admin API,
  ``gateway agent set-password``) clears the account's failures.
* **failed API keys per IP per minute** (the logins' per-IP limit, counted apart): an
  address that presented that many unknown or revoked keys gets 429 for the integration
  API before its key is looked up, with ``Retry-After``, whatever key it sends then
  (a good one too); calls with a good key are never counted.

The hourly counts live in memory (one node) or, when ``GATEWAY_REDIS_URL`` is set, in
Redis, so every node of a cluster shares them. Every limiter is a sliding window
counter: two integers per key, whatever the limit, so an attacker with many addresses
cannot make the counters grow with the limit. If Redis fails, a check lets the request
through (and logs it): the limits protect the service; they must not take it down.

The client IP is the socket's peer, unless the peer is one of ``GATEWAY_TRUSTED_PROXIES``:
then it is the right-most address of ``X-Forwarded-For`` that is not a trusted proxy.
Per-IP counts key on the address, or for IPv6 on its /64 (:func:`address_key`).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any

from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string
from starlette.requests import HTTPConnection

from gateway.errors import RateLimited
from gateway.settings import IPNetwork, Settings

GiveBack = Callable[[], Awaitable[None]]


log = logging.getLogger("gateway.limits")

# Refused frames in a row (each answered with an error frame) before the socket closes.
FRAME_GRACE = 10


class _OneLineClientErrors(logging.Filter):
    """uvicorn logs a text frame that is not UTF-8 with a full traceback, although it
    handles it (close 1007). Anyone can send one, so anyone could fill the log with
    tracebacks: keep it to one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.getMessage().startswith("Invalid UTF-8 sequence"):
            record.exc_info = None
            record.exc_text = None
            record.msg, record.args = "invalid UTF-8 in a text frame from a client: closed 1007", ()
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


logging.getLogger("uvicorn.error").addFilter(_OneLineClientErrors())


def client_ip(conn: HTTPConnection, trusted: list[IPNetwork]) -> str:
    """The client's address: the peer, or what trusted proxies say in X-Forwarded-For."""
    peer = conn.client.host if conn.client else ""
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    # Every line of the header, in order (one list, as RFC 9110 joins them): a proxy
    # that adds a line of its own (HAProxy) leaves the client's line first.
    forwarded = ",".join(conn.headers.getlist("x-forwarded-for"))
    hops = [h.strip() for h in forwarded.split(",")]
    # Right to left: each trusted proxy appended the address it received from; the
    # first address not of a trusted proxy is the client (anything left of it is
    # whatever the client claimed, and is ignored).
    for hop in reversed([h for h in hops if h]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer  # garbage from the proxy chain: trust nothing in it
        if not _is_trusted(hop, trusted):
            return hop
    return peer


def address_key(address: str) -> str:
    """The key an address is limited by: itself, or its /64 for IPv6 (one subscriber
    usually holds a whole /64: counting single addresses would give them 2^64 quotas).
    An IPv4-mapped IPv6 address counts as its IPv4 address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _is_trusted(address: str, trusted: list[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def _item(amount: int, per: type[RateLimitItem]) -> RateLimitItem | None:
    return per(amount) if amount > 0 else None


class FrameLimit:
    """One socket's frame budget. :meth:`allow` says whether to process a frame;
    :attr:`exhausted` turns true when the client kept sending past the limit.

    The same sliding window counter as the other limits (the last full minute's count,
    weighted by how much of it the sliding minute still covers, plus this minute's), but
    kept on the socket itself: the count is never shared (a socket lives on one node),
    and the ``limits`` library's in-memory storage scans every key it holds for expiry
    after each hit, which under the relay benchmark took a fifth of the gateway's CPU
    with one key per open socket (docs/benchmarks.md, "Rate limits")."""

    __slots__ = ("_amount", "_current", "_previous", "_start", "_window", "refused")

    def __init__(self, amount: int, window: float = 60.0) -> None:
        self._amount = amount
        self._window = window
        self._start = 0.0
        self._previous = 0
        self._current = 0
        self.refused = 0

    @property
    def exhausted(self) -> bool:
        return self.refused >= FRAME_GRACE

    def allow(self) -> bool:
        if self._amount <= 0:
            return True
        now = time.monotonic()
        elapsed = now - self._start
        if elapsed >= self._window:
            # A new window; the one before counts only if it just ended.
            self._previous = self._current if elapsed < 2 * self._window else 0
            self._current = 0
            self._start = now - (elapsed % self._window) if self._start else now
            elapsed = now - self._start
        weight = 1.0 - elapsed / self._window
        if self._previous * weight + self._current + 1 > self._amount:
            self.refused += 1
            return False
        self._current += 1
        self.refused = 0
        return True


class Limits:
    """The gateway's rate limiters, one per node (the composition root makes it)."""

    def __init__(self, settings: Settings) -> None:
        self.trusted = settings.trusted_proxy_networks
        # Per-socket counts live on the socket (FrameLimit); the others in memory, or
        # shared through Redis when the gateway runs as a cluster.
        if settings.redis_url:
            url = settings.redis_url
            uri = (
                "async+redis+unix://" + url.removeprefix("unix://")
                if url.startswith("unix://")
                else "async+" + url
            )
            shared: Any = storage_from_string(uri, implementation="redispy")
        else:
            shared = storage_from_string("async+memory://")
        self.shared = SlidingWindowCounterRateLimiter(shared)
        # Logins count exactly (a moving window keeps each attempt's time): the sliding
        # counter's estimate lets one more through at a window's edge, and the login
        # limits are small enough that exactness costs nothing.
        self.exact = MovingWindowRateLimiter(shared)
        self._failing = False  # the storage failed at the last look (logged once)
        self.frames_per_minute = settings.frames_per_minute
        self.connections = _item(settings.connections_per_ip_per_hour, RateLimitItemPerHour)
        self.conversations_ip = _item(settings.conversations_per_ip_per_hour, RateLimitItemPerHour)
        self.conversations_tp = _item(
            settings.conversations_per_touchpoint_per_hour, RateLimitItemPerHour
        )
        self.logins_ip = _item(settings.logins_per_ip_per_minute, RateLimitItemPerMinute)
        self.login_failures = _item(
            settings.login_failures_per_account_per_hour, RateLimitItemPerHour
        )

    def ip(self, conn: HTTPConnection) -> str:
        """The client's rate-limit key: its address, or its /64 for IPv6."""
        return address_key(client_ip(conn, self.trusted))

    def frame_limit(self) -> FrameLimit:
        return FrameLimit(self.frames_per_minute)

    async def _hit(self, item: RateLimitItem | None, *key: str, exact: bool = False) -> bool:
        if item is None:
            return True
        try:
            allowed = await (self.exact if exact else self.shared).hit(item, *key)
        except Exception:
            return self._storage_failed()
        self._failing = False
        return allowed

    async def _test(self, item: RateLimitItem | None, *key: str, exact: bool = False) -> bool:
        if item is None:
            return True
        try:
            allowed = await (self.exact if exact else self.shared).test(item, *key)
        except Exception:
            return self._storage_failed()
        self._failing = False
        return allowed

    def _storage_failed(self) -> bool:
        """Let the request through (a limiter down must not take the gateway with it);
        the traceback once per outage, not once per request (every request while Redis
        restarts)."""
        if self._failing:
            log.debug("rate limit storage failed; letting the request through", exc_info=True)
        else:
            self._failing = True
            log.warning("rate limit storage failed; letting requests through", exc_info=True)
        return True

    async def admit_connection(self, ip: str) -> None:
        """A WebSocket handshake from ``ip``: RateLimited over the hourly limit."""
        if not await self._hit(self.connections, "ws", ip):
            raise RateLimited("too many connections from your address; try again later")

    async def admit_bootstrap(self, ip: str) -> None:
        if not await self._hit(self.connections, "bootstrap", ip):
            raise RateLimited("too many requests from your address; try again later")

    async def admit_conversation(self, ip: str, touchpoint_id: str) -> GiveBack | None:
        """A new conversation: RateLimited over the per-IP or the per-touchpoint limit.
        Both are checked before either is counted, so a refusal costs nothing. Returns
        what gives back the counts it made, for a start that makes no conversation (it
        joined the one another node made at the same instant, or failed): None when
        none was made (no limit, the storage failing, the last slot taken meanwhile)."""
        if not await self._test(self.conversations_ip, "conv-ip", ip):
            raise RateLimited("too many new conversations from your address; try again later")
        if not await self._test(self.conversations_tp, "conv-tp", touchpoint_id):
            raise RateLimited("this chat is taking too many new conversations; try again later")
        counted = [
            (item, key)
            for item, key in (
                (self.conversations_ip, ("conv-ip", ip)),
                (self.conversations_tp, ("conv-tp", touchpoint_id)),
            )
            if item is not None and await self._counted(item, *key)
        ]
        return partial(self._uncount, counted) if counted else None

    async def _counted(self, item: RateLimitItem, *key: str) -> bool:
        try:
            counted = await self.shared.hit(item, *key)
        except Exception:
            return not self._storage_failed()  # let through, and nothing counted
        self._failing = False
        return counted

    async def _uncount(self, counted: Sequence[tuple[RateLimitItem, tuple[str, ...]]]) -> None:
        """A hit of cost -1 for each count: the sliding window's current count less one
        (at an hour's turn, the new hour's)."""
        for item, key in counted:
            try:
                await self.shared.hit(item, *key, cost=-1)
            except Exception:
                self._storage_failed()

    async def admit_login(self, ip: str, email: str) -> None:
        """A login attempt: RateLimited over the per-IP limit, or while the account has
        had too many failures (from anywhere) in the last hour."""
        if not await self._hit(self.logins_ip, "login-ip", ip, exact=True):
            raise RateLimited("too many logins from your address; try again later")
        if not await self._test(self.login_failures, "login-fail", _account(email), exact=True):
            raise RateLimited("too many failed logins for this account; try again later")

    async def login_failed(self, email: str) -> None:
        await self._hit(self.login_failures, "login-fail", _account(email), exact=True)

    async def clear_login_failures(self, email: str) -> bool:
        """Forget the failed logins of this account: a password set by an admin or from
        the shell lets its owner in at once, not after the lockout's hour. The count is
        in Redis for every node of a cluster, else in this node's memory. False when
        the storage failed (logged)."""
        if self.login_failures is None:
            return True
        try:
            await self.exact.clear(self.login_failures, "login-fail", _account(email))
        except Exception:
            log.warning("could not clear the failed logins of an account", exc_info=True)
            return False
        return True

    async def admit_api_key(self, ip: str) -> None:
        """An integration API request: RateLimited (with ``retry_after``) while its address has presented too
        many bad API keys in the last minute (a good key is never counted, but is held
        back with the bad ones: letting it through would tell a guesser which key is
        good). The refusal says when the oldest bad key leaves the minute."""
        if not await self._test(self.logins_ip, "key-fail", ip, exact=True):
            raise RateLimited(
                "too many bad API keys from your address; try again later",
                retry_after=await self._seconds_left(self.logins_ip, "key-fail", ip),
            )

    async def _seconds_left(self, item: RateLimitItem | None, *key: str) -> int:
        """Whole seconds until the exact limiter takes one more (1 to the window)."""
        assert item is not None  # only asked after a refusal
        window = item.get_expiry()
        try:
            stats = await self.exact.get_window_stats(item, *key)
        except Exception:
            return window
        return max(1, min(window, math.ceil(stats.reset_time - time.time())))

    async def api_key_failed(self, ip: str) -> None:
        await self._hit(self.logins_ip, "key-fail", ip, exact=True)


def _account(email: str) -> str:
    return email.strip().lower()[:320]
