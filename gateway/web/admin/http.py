"""The admin API's HTTP plumbing: who may call, body and query decoding, error mapping.

:func:`route` turns one row of the route table (gateway/openapi.py ``Endpoint``) into a
Starlette route whose handler receives a :class:`Ctx`. Errors become the gateway's JSON
error shape ``{"error": {"code", "message", ...}}``:

* no, a bad, an expired or a revoked token, or a deactivated agent → 401;
* a role the row does not allow → 403;
* :class:`Invalid` and msgspec validation errors → 422 with ``fields``;
* NotFound → 404, Conflict / :class:`InUse` → 409, StoreUnavailable → 503.

Bodies, tokens and passwords are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.errors import (
    AuthError,
    ConfigError,
    Conflict,
    Forbidden,
    GatewayError,
    NotFound,
    StoreUnavailable,
)
from gateway.ports.store.base import Agent
from gateway.services.engine import Engine
from gateway.web.admin.openapi import Endpoint
from gateway.web.admin.schemas import Invalid, field_errors
from gateway.web.login import authenticate, error_response

T = TypeVar("T")

MAX_BODY = 1_000_000
_ROLES_FOR = {
    "agent": ("agent", "supervisor", "admin"),
    "supervisor": ("supervisor", "admin"),
    "admin": ("admin",),
}


class InUse(Exception):
    """409: the object is still used by others (listed by kind)."""

    def __init__(self, message: str, used_by: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.used_by = {k: v for k, v in used_by.items() if v}


class ConflictField(Exception):
    """409 that names the field (a duplicate id or email)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class Ctx:
    request: Request
    engine: Engine
    caller: Agent | None
    raw: dict[str, Any] = field(default_factory=dict)  # the JSON body, when there is one
    query: Any = None  # the endpoint's query Struct, when it has one

    def param(self, name: str = "id") -> str:
        return str(self.request.path_params[name])

    def now(self) -> float:
        return self.engine.clock()


def convert(data: Any, type_: type[T]) -> T:
    """``msgspec.convert`` with errors as field-level :class:`Invalid`."""
    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError as exc:
        raise field_errors(exc) from None


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        msgspec.json.encode(data),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def invalid_response(exc: Invalid) -> JSONResponse:
    first = exc.fields[0]
    return error_response(
        422,
        "invalid",
        f"{first[0] or 'body'}: {first[1]}"
        + (f" (and {len(exc.fields) - 1} more)" if len(exc.fields) > 1 else ""),
        fields=[{"field": f, "message": m} for f, m in exc.fields],
    )


async def authorize(request: Request, access: str) -> Agent | None:
    if access == "public":
        return None
    try:
        _, agent = await authenticate(request)
    except (AuthError, Forbidden) as exc:
        raise _Status(401, exc.code, exc.message) from None
    if agent.role not in _ROLES_FOR[access]:
        who = "admins" if access == "admin" else "supervisors and admins"
        raise _Status(403, "forbidden", f"only {who} may do this")
    return agent


class _Status(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def _read_body(request: Request) -> dict[str, Any]:
    data = await request.body()
    if len(data) > MAX_BODY:
        raise Invalid([("", f"the body is larger than {MAX_BODY} bytes")])
    try:
        raw = msgspec.json.decode(data) if data.strip() else {}
    except msgspec.DecodeError as exc:
        raise Invalid([("", f"the body is not valid JSON: {exc}")]) from None
    if not isinstance(raw, dict):
        raise Invalid([("", "the body must be a JSON object")])
    return raw


def route(ep: Endpoint) -> Route:
    handler = ep.handler
    assert handler is not None, ep.path

    async def endpoint(request: Request) -> Response:
        try:
            caller = await authorize(request, ep.access)
            raw = await _read_body(request) if ep.body is not None else {}
            query: Any = None
            if ep.query is not None:
                try:
                    query = msgspec.convert(dict(request.query_params), ep.query, strict=False)
                except msgspec.ValidationError as exc:
                    raise field_errors(exc) from None
            ctx = Ctx(request, request.app.state.engine, caller, raw, query)
            response: Response = await handler(ctx)
            return response
        except _Status as exc:
            return error_response(exc.status, exc.code, exc.message)
        except Invalid as exc:
            return invalid_response(exc)
        except ConflictField as exc:
            return error_response(
                409, "conflict", str(exc), fields=[{"field": exc.field, "message": str(exc)}]
            )
        except InUse as exc:
            return error_response(409, "in_use", str(exc), used_by=exc.used_by)
        except NotFound as exc:
            return error_response(404, "not_found", exc.message)
        except Conflict as exc:
            return error_response(409, exc.code, exc.message)
        except ConfigError as exc:
            return invalid_response(Invalid([("", exc.message)]))
        except StoreUnavailable as exc:
            return error_response(503, exc.code, exc.message)
        except GatewayError as exc:
            return error_response(500, exc.code, exc.message)

    endpoint.__name__ = ep.operation_id
    return Route(ep.path.removeprefix("/api"), endpoint, methods=[ep.method])
