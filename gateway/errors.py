"""The gateway's exception tree, and the close codes its sockets use.

Every error the gateway raises on purpose derives from :class:`GatewayError`; third-party
errors (asyncpg, sqlite3, redis, jwt) are translated into it where they cross into our
code, so callers catch one family. Each class knows what it becomes on each transport:
its HTTP ``status``, its WebSocket ``close`` code (when it ends a session) and a stable
machine-readable ``code``; ``retryable`` says whether the same request may succeed
later. gateway/web/errors.py maps them, once for HTTP and once for sockets. The pure
router has its own root, ``routing.errors.RoutingError``, translated into
:class:`ActionRefused` at the boundary::

    GatewayError                                              HTTP  close
    ├── ConfigError          invalid settings or configuration     422   1011
    ├── ProtocolError        a frame or body the client should not 400   4000
    │   ├── InvalidInput     fields that fail validation (named)   422   4000
    │   ├── FrameTooLarge    over the size limit                   413   1009
    │   ├── BodyTooLarge     an HTTP body over its limit           413   1009
    │   └── UnsupportedVersion  a protocol version we do not speak 400   4006
    ├── AuthError            who you are could not be established  401   4001
    │   ├── TokenExpired     the token's lifetime is over          401   4002
    │   └── TokenInvalid     forged, tampered, revoked, or for something else
    ├── Forbidden            known, but may not do this            403   4003
    │   └── OriginRefused    the page's Origin is not allowed      403   1008
    ├── NotFound             an id that does not exist (or is not yours to see) 404
    ├── Conflict             the state moved on                    409   4003
    │   └── InUse            still used by others (lists them)     409
    ├── ActionRefused        the router refused; carries its code  409   4003
    ├── FileRefused          a file the channel's rules refuse     422   4003
    │   ├── FileTooLarge     over the size allowed (also mid-upload) 413
    │   └── FileTypeRefused  a type (found in the content) not allowed 415
    ├── RateLimited          over a configured limit               429   4029 (retry)
    └── Unavailable          a dependency is down: retry later     503   1013 (retry)
        ├── BusUnavailable   Redis cannot be reached
        ├── RouterUnavailable  no router leader answers (a failover is under way)
        ├── StoreUnavailable   the database cannot be reached
        └── BlobsUnavailable   file storage cannot be reached or is full
    StoreError               the store failed (not retryable)      500   1011
    (StoreUnavailable is also a StoreError.)

Messages: an error's ``message`` is for logs and may carry details (a driver's text, a
SQL fragment, a stored value); what a client sees is ``public_message``, which is the
message itself only for classes whose messages are written for clients (``public``),
and a fixed sentence otherwise. docs/protocol.md lists the codes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence


class CloseCode(enum.IntEnum):
    """WebSocket close codes the gateway uses. ``RECONNECT`` lists those after which a
    client should reconnect (with backoff); every other code is final until the user
    acts (reload, log in again, fix the page's configuration)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the node is draining: reconnect, possibly to another node
    UNSUPPORTED_DATA = 1003  # a binary frame: the protocol is JSON text (RFC 6455 7.4.1)
    POLICY = 1008  # Origin not allowed for this touchpoint
    TOO_BIG = 1009  # frame over the size limit
    INTERNAL = 1011  # unexpected server error: reconnect
    RESTART = 1012  # service restart: reconnect
    TRY_AGAIN = 1013  # temporarily unavailable (store, bus, router leader): reconnect
    BAD_HELLO = 4000  # first frame was not a valid hello
    UNAUTHENTICATED = 4001  # missing, forged or revoked token
    TOKEN_EXPIRED = 4002  # get a new token (visitor: bootstrap again; agent: log in)
    FORBIDDEN = 4003  # the token is valid but not for this (touchpoint, origin, endpoint)
    UNSUPPORTED_VERSION = 4006
    SLOW_CONSUMER = 4008  # the client did not read fast enough: reconnect and resume
    RATE_LIMITED = 4029  # too many frames: reconnect after a pause


RECONNECT = frozenset(
    {
        CloseCode.GOING_AWAY,
        CloseCode.INTERNAL,
        CloseCode.RESTART,
        CloseCode.TRY_AGAIN,
        CloseCode.SLOW_CONSUMER,
        CloseCode.RATE_LIMITED,
        CloseCode.TOO_BIG,
    }
)


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    code = "internal"
    status = 500
    close = CloseCode.INTERNAL
    retryable = False
    # whether ``message`` is written for clients (else they see ``generic``)
    public = True
    generic = "internal error"

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code

    @property
    def public_message(self) -> str:
        return self.message if self.public else self.generic

    def details(self) -> dict[str, object]:
        """Extra fields of the HTTP error body (``{"error": {..., **details}}``)."""
        return {}


class ConfigError(GatewayError):
    """The configuration is invalid."""

    code = "invalid_config"
    status = 422


class ProtocolError(GatewayError):
    """The frame is malformed or not allowed here."""

    code = "bad_frame"
    status = 400
    close = CloseCode.BAD_HELLO


class BinaryFrame(ProtocolError):
    """A binary frame: the protocol's frames are JSON text."""

    close = CloseCode.UNSUPPORTED_DATA


class InvalidInput(ProtocolError):
    """A request whose fields fail validation: one message per field."""

    code = "invalid"
    status = 422

    def __init__(self, fields: Sequence[tuple[str, str]], *, code: str | None = None) -> None:
        first_field, first_message = fields[0]
        more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
        super().__init__(f"{first_field or 'body'}: {first_message}{more}", code=code)
        self.fields = list(fields)

    def details(self) -> dict[str, object]:
        return {"fields": [{"field": f, "message": m} for f, m in self.fields]}


class FrameTooLarge(ProtocolError):
    """The frame is larger than the configured limit."""

    code = "frame_too_large"
    status = 413
    close = CloseCode.TOO_BIG


class BodyTooLarge(ProtocolError):
    """The request body is larger than the configured limit."""

    code = "too_large"
    status = 413
    close = CloseCode.TOO_BIG


class UnsupportedVersion(ProtocolError):
    """The client speaks a protocol version this server does not."""

    code = "unsupported_version"
    close = CloseCode.UNSUPPORTED_VERSION


class AuthError(GatewayError):
    """Authentication failed."""

    code = "unauthenticated"
    status = 401
    close = CloseCode.UNAUTHENTICATED


class TokenExpired(AuthError):
    """The token has expired."""

    code = "token_expired"
    close = CloseCode.TOKEN_EXPIRED


class TokenInvalid(AuthError):
    """The token is forged, tampered with, revoked or issued for something else."""

    code = "token_invalid"


class Forbidden(GatewayError):
    """The caller may not do this."""

    code = "forbidden"
    status = 403
    close = CloseCode.FORBIDDEN


class OriginRefused(Forbidden):
    """The request's Origin is not allowed here."""

    code = "origin_mismatch"
    close = CloseCode.POLICY


class NotFound(GatewayError):
    """No such object."""

    code = "not_found"
    status = 404
    close = CloseCode.FORBIDDEN


class Conflict(GatewayError):
    """The object's state does not allow this now."""

    code = "conflict"
    status = 409
    close = CloseCode.FORBIDDEN

    def __init__(self, message: str = "", *, code: str | None = None, field: str = "") -> None:
        super().__init__(message, code=code)
        self.field = field

    def details(self) -> dict[str, object]:
        return {"fields": [{"field": self.field, "message": self.message}]} if self.field else {}


class InUse(Conflict):
    """The object is still used by others (listed by kind)."""

    code = "in_use"

    def __init__(self, message: str, used_by: Mapping[str, list[str]]) -> None:
        super().__init__(message)
        self.used_by = {k: v for k, v in used_by.items() if v}

    def details(self) -> dict[str, object]:
        return {"used_by": self.used_by}


class DuplicateRecord(Conflict):
    """The store refused a duplicate (its text, naming tables and values, is for logs)."""

    public = False
    generic = "this already exists"


class MissingReference(NotFound):
    """The store refused a reference to a record that does not exist."""

    public = False
    generic = "a record this refers to does not exist"


class ContactExists(Conflict):
    """Another saved contact has this email or phone: merge into it instead."""

    code = "contact_exists"

    def __init__(self, message: str, contact_id: str) -> None:
        super().__init__(message)
        self.contact_id = contact_id

    def details(self) -> dict[str, object]:
        return {"contact_id": self.contact_id}


class ActionRefused(GatewayError):
    """The router refused the action."""

    code = "refused"
    status = 409
    close = CloseCode.FORBIDDEN


class FileRefused(GatewayError):
    """A file the channel's attachment rules refuse: the message says why, and
    ``allowed`` (the error body's details) what would be accepted."""

    code = "file_refused"
    status = 422
    close = CloseCode.FORBIDDEN

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        allowed: Sequence[str] = (),
        max_bytes: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.allowed = list(allowed)
        self.max_bytes = max_bytes

    def details(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.allowed:
            out["allowed"] = self.allowed
        if self.max_bytes is not None:
            out["max_bytes"] = self.max_bytes
        return out


class FileTooLarge(FileRefused):
    """The file is larger than the channel allows (counted while it streams in)."""

    code = "file_too_large"
    status = 413


class FileTypeRefused(FileRefused):
    """The file's type, as found in its content, is not allowed on the channel."""

    code = "file_type_refused"
    status = 415


class RateLimited(GatewayError):
    """A configured limit was exceeded. ``retry_after``: whole seconds until the limit
    takes the caller again, when the limit knows (the HTTP answer's ``Retry-After``)."""

    code = "rate_limited"
    status = 429
    close = CloseCode.RATE_LIMITED
    retryable = True

    def __init__(
        self, message: str = "", *, code: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class StoreError(GatewayError):
    """The store failed."""

    code = "store_error"
    public = False
    generic = "the store failed; the request was not carried out"


class Unavailable(GatewayError):
    """Something the gateway depends on is down; try again later."""

    code = "unavailable"
    status = 503
    close = CloseCode.TRY_AGAIN
    retryable = True


class StoreUnavailable(StoreError, Unavailable):
    """The database cannot be reached; try again later."""

    code = "store_unavailable"
    generic = "the store is not available now; try again"


class BusUnavailable(Unavailable):
    """The message bus cannot be reached; try again later."""

    code = "bus_unavailable"
    public = False
    generic = "the message bus is not available now; try again"


class RouterUnavailable(Unavailable):
    """No router leader can take the event now (a failover is under way)."""

    code = "router_unavailable"


class BlobsUnavailable(Unavailable):
    """File storage cannot be reached, or has no space left; try again later."""

    code = "storage_unavailable"
    public = False
    generic = "file storage is not available now; try again"

    @property
    def public_message(self) -> str:
        # what the disk said stays in the log; the client learns what it can do
        if self.code == "storage_full":
            return "no space is left for files: nothing was stored; try again later"
        return self.generic
