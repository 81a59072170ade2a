"""Decoding at the edge, encoding, and the JSON Schema of every frame."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.errors import FrameTooLarge, ProtocolError
from gateway.protocol.agent import (
    AgentIn,
    AgentOut,
)
from gateway.protocol.frames import (
    VERSION,
    Frame,
)
from gateway.protocol.visitor import (
    VisitorIn,
    VisitorOut,
)

# ----------------------------------------------------------------------------------
# Encoding and decoding at the edge

_visitor_decoder = msgspec.json.Decoder(VisitorIn)
_agent_decoder = msgspec.json.Decoder(AgentIn)
_encoder = msgspec.json.Encoder()


def _decode(decoder: msgspec.json.Decoder[Any], data: str | bytes, limit: int) -> Any:
    if len(data) > limit:
        raise FrameTooLarge(f"frame of {len(data)} bytes is over the limit of {limit}")
    try:
        frame = decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise ProtocolError(str(exc), code=_validation_code(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"not a JSON frame: {exc}", code="bad_json") from None
    # The NUL character: JSON carries it (only escaped), PostgreSQL's text cannot hold
    # it. Refused here for every field, so that no store meets it (a store_error on
    # PostgreSQL, stored as sent on SQLite).
    where = nul_field(data, frame)
    if where is not None:
        raise ProtocolError(
            f"{where}: the NUL character (\\u0000) is not accepted", code="invalid_field"
        )
    return frame


_ESCAPED_NUL = "\\u0000"  # the only way a NUL can be in valid JSON text
_ESCAPED_NUL_BYTES = _ESCAPED_NUL.encode()


def nul_field(data: str | bytes, value: object) -> str | None:
    """Where ``value``, decoded from the JSON text ``data``, holds a NUL character, or
    None. A search of the text first, and a look at the value only when it holds the
    escape: nothing more for the texts that do not have one."""
    if _ESCAPED_NUL in data if isinstance(data, str) else _ESCAPED_NUL_BYTES in data:
        return nul_in(msgspec.to_builtins(value))
    return None


def nul_in(value: object, path: str = "") -> str | None:
    """The path of the first string holding a NUL in decoded JSON (a key's own path for
    a key), or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = str(key).replace("\x00", "\\u0000")
            here = f"{path}.{name}" if path else name
            if "\x00" in str(key):
                return here
            found = nul_in(item, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = nul_in(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _validation_code(message: str) -> str:
    if "Invalid value" in message and "`$.type`" in message:
        return "unknown_type"
    if "missing required field `type`" in message or "Expected `object`" in message:
        return "bad_frame"
    return "invalid_field"


def decode_visitor(data: str | bytes, limit: int = 16384) -> VisitorIn:
    """Decode a visitor's frame or raise ProtocolError (code: bad_json, unknown_type,
    invalid_field, bad_frame, frame_too_large)."""
    frame: VisitorIn = _decode(_visitor_decoder, data, limit)
    return frame


def decode_agent(data: str | bytes, limit: int = 16384) -> AgentIn:
    frame: AgentIn = _decode(_agent_decoder, data, limit)
    return frame


def encode(frame: Frame) -> bytes:
    """Encode a frame as JSON bytes (sent as a text frame)."""
    return _encoder.encode(frame)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of every frame, by endpoint and direction."""
    schemas, components = msgspec.json.schema_components(
        [VisitorIn, VisitorOut, AgentIn, AgentOut], ref_template="#/$defs/{name}"
    )
    names = ["visitor_in", "visitor_out", "agent_in", "agent_out"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Engagement gateway wire protocol, version {VERSION}",
        "properties": dict(zip(names, schemas, strict=True)),
        "$defs": components,
    }
