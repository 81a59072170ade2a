"""schemathesis hooks for tests/security/test_integration_fuzz.py: the integration API's
path parameters name the touchpoint whose API key the run sends, and a conversation of
it, so that generated bodies reach the handlers rather than stopping at a 404; the
request signature header (tested on its own in tests/integration) is left out, as are
path parameters no route can match (see schemathesis_hooks.py)."""

from __future__ import annotations

import os
from typing import Any

import schemathesis


@schemathesis.hook
def filter_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> bool:
    return all(
        not isinstance(value, str) or not any(c in value for c in "\n/")
        for value in (path_parameters or {}).values()
    )


@schemathesis.hook
def map_path_parameters(context: Any, path_parameters: dict[str, Any]) -> dict[str, Any]:
    params = dict(path_parameters or {})
    if "touchpoint_id" in params:
        params["touchpoint_id"] = os.environ["FUZZ_TOUCHPOINT"]
    if "conversation_id" in params:
        params["conversation_id"] = os.environ["FUZZ_CONVERSATION"]
    return params


@schemathesis.hook
def map_headers(context: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    if headers:
        headers.pop("Gateway-Signature", None)
    return headers
