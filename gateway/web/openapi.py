"""The OpenAPI 3.1 document, generated from the route table and the Structs.

gateway/web/admin/routes.py keeps one table of :class:`Endpoint` rows; the admin routes are mounted
from it and this module describes the same rows (plus the rows that only describe the
agents' and the widget's existing endpoints), so routing and documentation cannot drift.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec


class FieldError(msgspec.Struct, frozen=True):
    field: str
    message: str


class ErrorDetail(msgspec.Struct, frozen=True, omit_defaults=True):
    code: str
    message: str
    fields: list[FieldError] = []
    # 409 when deleting something still in use: kind -> ids of the users
    used_by: dict[str, list[str]] = {}


class ErrorResponse(msgspec.Struct, frozen=True):
    """The body of every error answer (gateway/web/errors.py)."""

    error: ErrorDetail


# "integration": an integration touchpoint's API key (channels/api)
Access = Literal["public", "agent", "supervisor", "admin", "integration"]

_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    401: "Not authenticated: no, an expired or an invalid bearer token",
    403: "Authenticated, but the role may not do this",
    404: "No such object",
    405: "Method not allowed",
    409: "Conflict: duplicate id or email, the object is still in use, or its state "
    "does not allow this",
    413: "Too large: over the limit (a body, or a file: the channel's, counted as it arrives)",
    415: "A file type the channel does not accept (found in the content)",
    422: "Invalid input; `error.fields` names each bad field",
    429: "Too many requests from this address; retry later",
    503: "The database cannot be reached; retry later",
}
_PATH_PARAM = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Endpoint:
    """One operation: how it is routed (``handler``) and how it is described."""

    method: str
    path: str  # the full path, e.g. /api/admin/queues/{id}
    summary: str
    access: Access
    handler: Callable[..., Awaitable[Any]] | None = None  # None: routed elsewhere
    tag: str = "admin"
    body: type | None = None
    # a body that is not JSON (a file's bytes): its media type
    raw_body: str = ""
    patch: bool = False  # the body is a JSON merge patch onto ``body``
    query: type | None = None
    response: type | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    description: str = ""
    download: bool = False  # a JSON file download (Content-Disposition: attachment)

    @property
    def operation_id(self) -> str:
        words = re.sub(r"[{}]", "", self.path.removeprefix("/api")).strip("/").split("/")
        return "_".join([self.method.lower(), *(w.replace("-", "_") for w in words)])

    @property
    def error_statuses(self) -> tuple[int, ...]:
        auth: tuple[int, ...] = ()
        if self.access == "integration":
            # the touchpoint may not exist; an address may have sent too many bad keys; a
            # body may be too large, an Idempotency-Key bad
            auth = (401, 403, 404, 429) + ((413, 422) if self.method == "POST" else ())
        elif self.access != "public":
            auth = (401,) if self.access == "agent" else (401, 403)
        extra = (422,) if self.body is not None or self.query is not None else ()
        # Every body is bounded (gateway/web/guard.py), whatever the endpoint.
        big = (413,) if self.body is not None or self.raw_body else ()
        # An empty id names the collection instead, whose other methods answer 405.
        empty = (405,) if _PATH_PARAM.search(self.path) else ()
        return tuple(sorted({*auth, *extra, *big, *empty, *self.errors}))


def document(endpoints: Sequence[Endpoint], *, version: str = "0.1.0") -> dict[str, Any]:
    types: list[Any] = [ErrorResponse]
    for ep in endpoints:
        types.extend(t for t in (ep.body, ep.query, ep.response) if t is not None)
    types = list(dict.fromkeys(types))
    refs, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    ref_of = dict(zip(types, refs, strict=True))
    for ep in endpoints:
        if ep.patch and ep.body is not None:
            name = ep.body.__name__
            components.setdefault(f"{name}Patch", _patch_schema(components[name]))

    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "operationId": ep.operation_id,
            "summary": ep.summary,
            "tags": [ep.tag],
            "responses": {},
        }
        if ep.description:
            op["description"] = ep.description
        op["security"] = (
            []
            if ep.access == "public"
            else [{"apiKey": []}]
            if ep.access == "integration"
            else [{"bearer": []}]
        )
        if ep.access in ("supervisor", "admin"):
            who = "supervisors and admins" if ep.access == "supervisor" else "admins"
            op["description"] = (op.get("description", "") + f"\n\nAllowed for {who}.").strip()
        params = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in _PATH_PARAM.findall(ep.path)
        ]
        if ep.access == "integration" and ep.method == "POST":
            params.append(_IDEMPOTENCY_PARAM)
        if ep.access == "integration":
            params.append(_SIGNATURE_PARAM)
        if ep.query is not None:
            schema = components[ep.query.__name__]
            required = set(schema.get("required", []))
            for name, prop in schema["properties"].items():
                params.append(
                    {"name": name, "in": "query", "required": name in required, "schema": prop}
                )
        if params:
            op["parameters"] = params
        if ep.raw_body:
            op["requestBody"] = {
                "required": True,
                "content": {ep.raw_body: {"schema": {"type": "string", "format": "binary"}}},
            }
        if ep.body is not None:
            if ep.patch:
                ref = {"$ref": f"#/components/schemas/{ep.body.__name__}Patch"}
                content = {"application/merge-patch+json": {"schema": ref}}
                content["application/json"] = {"schema": ref}
            else:
                content = {"application/json": {"schema": ref_of[ep.body]}}
            op["requestBody"] = {"required": True, "content": content}
        ok: dict[str, Any] = {"description": _STATUS_TEXT.get(ep.status, "OK")}
        if ep.response is not None:
            ok["content"] = {"application/json": {"schema": ref_of[ep.response]}}
        if ep.download:
            ok["headers"] = {
                "Content-Disposition": {
                    "schema": {"type": "string"},
                    "description": 'attachment; filename="contact-<id>.json"',
                }
            }
        op["responses"][str(ep.status)] = ok
        for status in ep.error_statuses:
            op["responses"][str(status)] = {"$ref": f"#/components/responses/E{status}"}
        paths.setdefault(ep.path, {})[ep.method.lower()] = op

    for ep in endpoints:  # query Structs became parameters; they are no schemas
        if ep.query is not None:
            components.pop(ep.query.__name__, None)
    statuses = sorted({s for ep in endpoints for s in ep.error_statuses})
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Engagement gateway API",
            "version": version,
            "description": "The admin REST API, the agents' login API and the widget "
            "bootstrap. See docs/admin-api.md.",
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "admin", "description": "configuration (admins only)"},
            {"name": "history", "description": "conversations and contacts"},
            {"name": "agents", "description": "log in, log out, who am I"},
            {"name": "widget", "description": "the chat widget's bootstrap"},
            {
                "name": "integration",
                "description": "the integration API, with an integration touchpoint's API key",
            },
            {"name": "automations", "description": "webhooks on conversation events"},
            {"name": "meta", "description": "this document"},
        ],
        "paths": paths,
        "components": {
            "schemas": components,
            "responses": {
                f"E{s}": {
                    "description": _STATUS_TEXT[s],
                    "content": {"application/json": {"schema": ref_of[ErrorResponse]}},
                }
                for s in statuses
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "the agent token POST /api/login returns",
                },
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "gk_...",
                    "description": "an API key of the path's integration touchpoint",
                },
            },
        },
    }


_IDEMPOTENCY_PARAM: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Replays of this request get its first answer (kept a day).",
    "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
}
_SIGNATURE_PARAM: dict[str, Any] = {
    "name": "Gateway-Signature",
    "in": "header",
    "required": False,
    "description": "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.' + body>, with the "
    "touchpoint's signing secret; required when it requires signed requests.",
    "schema": {"type": "string", "maxLength": 1000},
}


def _patch_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The same object with every property optional and no defaults (a merge patch)."""
    out = copy.deepcopy(schema)
    out.pop("required", None)
    out["title"] = f"{schema.get('title', 'Object')} (merge patch)"
    for prop in out.get("properties", {}).values():
        prop.pop("default", None)
    return out
