"""JSON request bodies and query strings, read one way by every API route: whatever is
wrong with the bytes is the client's ``InvalidInput`` (422), never a 500.

What msgspec's own errors leave out: text that is not UTF-8 inside a string (msgspec
raises ``UnicodeDecodeError``, not a ``DecodeError``), nesting deeper than the
interpreter's stack (``RecursionError``), and the NUL character, which JSON may carry
(``\\u0000``) but PostgreSQL's text cannot: refused here, so that the two stores agree and
no store error is met half-way through a request. The same goes for a query's values
(422) and a path's ids (404: no record has such an id).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, overload

import msgspec

from gateway.errors import InvalidInput, NotFound
from gateway.protocol.codec import nul_field, nul_in

T = TypeVar("T")


@overload
def read_json(data: bytes) -> Any: ...
@overload
def read_json(data: bytes, type_: type[T]) -> T: ...


def read_json(data: bytes, type_: Any = Any) -> Any:
    """``data`` decoded as ``type_``. InvalidInput for bytes that are not JSON, not UTF-8,
    nested too deeply or holding a NUL character; a value of the wrong shape raises
    msgspec's ``ValidationError``, which each route words its own way."""
    try:
        value = msgspec.json.decode(data, type=type_)
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError as exc:
        raise InvalidInput([("", f"the body is not valid JSON: {exc}")]) from None
    except UnicodeDecodeError:
        raise InvalidInput([("", "the body is not valid UTF-8")]) from None
    except RecursionError:
        raise InvalidInput([("", "the body is nested too deeply")]) from None
    where = nul_field(data, value)
    if where is not None:
        raise InvalidInput([(where, "the NUL character (\\u0000) is not accepted")])
    return value


def read_query(params: Mapping[str, str], type_: type[T]) -> T:
    """The query string's parameters as ``type_`` (msgspec's ``ValidationError`` for a
    wrong one); InvalidInput for a NUL in a value it keeps."""
    value = msgspec.convert(dict(params), type_, strict=False)
    if any("\x00" in v for v in params.values()):  # rare: only then look for it
        where = nul_in(msgspec.to_builtins(value))
        if where is not None:
            raise InvalidInput([(where, "the NUL character (\\u0000) is not accepted")])
    return value


def check_path(params: Mapping[str, Any]) -> None:
    """NotFound for a path parameter holding a NUL: no record's id has one."""
    if any("\x00" in str(v) for v in params.values()):
        raise NotFound("no such record")
