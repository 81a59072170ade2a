"""The gateway's exception tree.

Every error the gateway raises on purpose derives from :class:`GatewayError`; third-party
errors (asyncpg, sqlite3, redis, jwt) are translated into it where they cross into our
code, so callers catch one family. The pure router has its own root,
``routing.errors.RoutingError``; the session layer translates it into
:class:`ActionRefused` at the boundary::

    GatewayError
    ├── ConfigError              invalid settings or configuration (names the field)
    ├── ProtocolError            a frame the client should not have sent      (4400)
    │   ├── FrameTooLarge        over the size limit                          (1009)
    │   └── UnsupportedVersion   a protocol version we do not speak           (4406)
    ├── AuthError                who you are could not be established         (4401)
    │   ├── TokenExpired         the token's lifetime is over                 (4403 → renew)
    │   └── TokenInvalid         forged, tampered, revoked or for something else
    ├── Forbidden                you are known but may not do this            (4403)
    ├── NotFound                 an id that does not exist (or is not yours to see)
    ├── Conflict                 the state moved on (already assigned, duplicate, ...)
    ├── ActionRefused            the router refused an action; carries its reason code
    ├── RateLimited              over a configured limit                      (4429)
    ├── BusUnavailable           Redis cannot be reached: frames not delivered now
    └── StoreError               the store failed
        └── StoreUnavailable     the database cannot be reached now: retry later

Each error carries a stable machine-readable ``code`` that the wire protocol sends in
error frames; docs/protocol.md lists them.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    code = "internal"
    retryable = False

    def __init__(self, message: str = "", *, code: str | None = None) -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class ConfigError(GatewayError):
    """The configuration is invalid."""

    code = "invalid_config"


class ProtocolError(GatewayError):
    """The frame is malformed or not allowed here."""

    code = "bad_frame"


class FrameTooLarge(ProtocolError):
    """The frame is larger than the configured limit."""

    code = "frame_too_large"


class UnsupportedVersion(ProtocolError):
    """The client speaks a protocol version this server does not."""

    code = "unsupported_version"


class AuthError(GatewayError):
    """Authentication failed."""

    code = "unauthenticated"


class TokenExpired(AuthError):
    """The token has expired."""

    code = "token_expired"


class TokenInvalid(AuthError):
    """The token is forged, tampered with, revoked or issued for something else."""

    code = "token_invalid"


class Forbidden(GatewayError):
    """The caller may not do this."""

    code = "forbidden"


class NotFound(GatewayError):
    """No such object."""

    code = "not_found"


class Conflict(GatewayError):
    """The object's state does not allow this now."""

    code = "conflict"


class ActionRefused(GatewayError):
    """The router refused the action."""

    code = "refused"


class RateLimited(GatewayError):
    """A configured limit was exceeded."""

    code = "rate_limited"
    retryable = True


class StoreError(GatewayError):
    """The store failed."""

    code = "store_error"


class StoreUnavailable(StoreError):
    """The database cannot be reached; try again later."""

    code = "store_unavailable"
    retryable = True


class BusUnavailable(GatewayError):
    """The message bus cannot be reached; try again later."""

    code = "bus_unavailable"
    retryable = True
