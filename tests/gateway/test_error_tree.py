"""The one exception tree (gateway/errors.py) and its mapping to HTTP and sockets."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.requests import Request

import gateway.errors as errors_module
from gateway.errors import (
    RECONNECT,
    CloseCode,
    GatewayError,
    InUse,
    InvalidInput,
    RouterUnavailable,
    StoreError,
    StoreUnavailable,
)
from gateway.web.errors import close_reason, error_frame, gateway_error_handler


def every_error() -> list[type[GatewayError]]:
    found: list[type[GatewayError]] = []
    todo: list[type[GatewayError]] = [GatewayError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: c.__name__)


def make(cls: type[GatewayError], message: str) -> GatewayError:
    """An instance, whichever of the tree's constructor shapes the class has."""
    if issubclass(cls, InUse):
        return cls(message, {"conversations": ["cv_1"]})
    for args in ((message,), ([("field", message)],), ("field", message)):
        try:
            return cls(*args)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    raise AssertionError(f"cannot make a {cls.__name__}")


def test_every_error_is_in_the_one_tree() -> None:
    """Every exception class the gateway defines on purpose derives from GatewayError."""
    defined = [
        obj
        for obj in vars(errors_module).values()
        if isinstance(obj, type) and issubclass(obj, Exception)
    ]
    assert defined and all(issubclass(c, GatewayError) for c in defined)


@pytest.mark.parametrize("cls", every_error(), ids=lambda c: c.__name__)
def test_each_error_knows_its_status_close_code_and_message(cls: type[GatewayError]) -> None:
    exc = make(cls, 'a detail only the logs may see: relation "x" does not exist')
    assert 400 <= exc.status < 600
    assert isinstance(exc.close, CloseCode)
    assert exc.code and exc.public_message
    # A retryable condition must close with a code the clients reconnect after.
    if exc.retryable:
        assert exc.close in RECONNECT, cls
        assert exc.status in (429, 503), cls
    if not exc.public:
        assert "relation" not in exc.public_message


def test_store_and_driver_text_never_reaches_a_client() -> None:
    leak = 'SQLite: no such table: messages (INSERT INTO messages VALUES ("secret"))'
    for exc in (StoreError(leak), StoreUnavailable(leak)):
        frame = error_frame(exc, "ref-1")
        _, reason = close_reason(exc)
        response = asyncio.run(gateway_error_handler(Request({"type": "http", "headers": []}), exc))
        body = json.loads(bytes(response.body))
        for shown in (frame.message, reason, body["error"]["message"]):
            assert "secret" not in shown and "SQLite" not in shown
        assert body["error"]["code"] == exc.code and response.status_code == exc.status
    assert close_reason(StoreUnavailable(leak))[0] == CloseCode.TRY_AGAIN


def test_a_retryable_router_failover_closes_with_try_again() -> None:
    """It used to close with 4003, a final code, so consoles logged their agents out."""
    code, _ = close_reason(RouterUnavailable("no router leader answered; try again"))
    assert code == CloseCode.TRY_AGAIN and code in RECONNECT


def test_the_http_body_carries_each_errors_details() -> None:
    response = asyncio.run(
        gateway_error_handler(
            Request({"type": "http", "headers": []}),
            InvalidInput([("name", "required"), ("queue_ids", "unknown queue id(s): q9")]),
        )
    )
    body = json.loads(bytes(response.body))
    assert response.status_code == 422
    assert body["error"]["fields"] == [
        {"field": "name", "message": "required"},
        {"field": "queue_ids", "message": "unknown queue id(s): q9"},
    ]
    assert body["error"]["message"] == "name: required (and 1 more)"
