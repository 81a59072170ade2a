"""The admin API's HTTP plumbing: who may call, body and query decoding.

:func:`route` turns one row of the route table (gateway/web/admin/openapi.py
``Endpoint``) into a Starlette route whose handler receives a :class:`Ctx`. Handlers
raise the gateway's exceptions; the application's one handler (gateway/web/errors.py)
answers them:

* no, a bad, an expired or a revoked token, or a deactivated agent → 401;
* a role the row does not allow → 403;
* InvalidInput and msgspec validation errors → 422 with ``fields``;
* NotFound → 404, Conflict / InUse → 409, unavailable store → 503.

Bodies, tokens and passwords are never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.errors import Forbidden, InvalidInput
from gateway.model.records import Agent
from gateway.ports.store.base import Store
from gateway.web.admin.schemas import field_errors
from gateway.web.bodies import check_path, read_json, read_query
from gateway.web.context import Web, web_of
from gateway.web.login import authenticate
from gateway.web.openapi import Endpoint

T = TypeVar("T")

_ROLES_FOR = {
    "agent": ("agent", "supervisor", "admin"),
    "supervisor": ("supervisor", "admin"),
    "admin": ("admin",),
}


@dataclass
class Ctx:
    request: Request
    web: Web
    caller: Agent | None
    raw: dict[str, Any] = field(default_factory=dict)  # the JSON body, when there is one
    query: Any = None  # the endpoint's query Struct, when it has one

    @property
    def store(self) -> Store:
        return self.web.store

    def param(self, name: str = "id") -> str:
        return str(self.request.path_params[name])

    def now(self) -> float:
        return self.web.clock()

    async def changed(self) -> None:
        """Configuration was written: every node reloads it and the router is rebuilt."""
        await self.web.reload()


def convert(data: Any, type_: type[T]) -> T:
    """``msgspec.convert`` with errors as field-level InvalidInput."""
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


async def authorize(request: Request, access: str) -> Agent | None:
    if access == "public":
        return None
    _, agent = await authenticate(request)
    if agent.role not in _ROLES_FOR[access]:
        who = "admins" if access == "admin" else "supervisors and admins"
        raise Forbidden(f"only {who} may do this")
    return agent


async def _read_body(request: Request) -> dict[str, Any]:
    data = await request.body()  # at most GATEWAY_MAX_BODY_BYTES (gateway/web/guard.py)
    try:
        raw = read_json(data) if data.strip() else {}
    except msgspec.ValidationError as exc:  # a number out of range (1e400), say
        raise field_errors(exc) from None
    if not isinstance(raw, dict):
        raise InvalidInput([("", "the body must be a JSON object")])
    return raw


def route(ep: Endpoint) -> Route:
    handler = ep.handler
    assert handler is not None, ep.path

    async def endpoint(request: Request) -> Response:
        caller = await authorize(request, ep.access)
        check_path(request.path_params)
        raw = await _read_body(request) if ep.body is not None else {}
        query: Any = None
        if ep.query is not None:
            try:
                query = read_query(request.query_params, ep.query)
            except msgspec.ValidationError as exc:
                raise field_errors(exc) from None
        response: Response = await handler(Ctx(request, web_of(request), caller, raw, query))
        return response

    endpoint.__name__ = ep.operation_id
    return Route(ep.path.removeprefix("/api"), endpoint, methods=[ep.method])
