"""The Graph API's answers, as the delivery worker needs them: a message id, or an error
(``{"error": {"message", "type", "code", "error_subcode", ...}}``) turned into an
outcome: retried on 5xx, 429 and throttling codes, final otherwise, with a reason."""

from __future__ import annotations

from typing import Final

import httpx

from channels.outbound import transient
from gateway.services.deliveries import Outcome, failed

# Throttling: try again later (https://developers.facebook.com/docs/graph-api/overview/rate-limiting)
THROTTLED: Final = frozenset({4, 17, 32, 613, 80007, 130429, 131056})
TOKEN_ERRORS: Final = frozenset({190})


def error_of(response: httpx.Response) -> tuple[int | None, int | None, str]:
    """(code, subcode, message) of a Graph API error answer."""
    try:
        data = response.json()
    except ValueError:
        return None, None, ""
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None, ""
    code, sub = error.get("code"), error.get("error_subcode")
    return (
        code if isinstance(code, int) else None,
        sub if isinstance(sub, int) else None,
        str(error.get("message", ""))[:300],
    )


def outcome_of_error(
    response: httpx.Response, reasons: dict[int, str], platform: str
) -> tuple[Outcome, int | None]:
    """The outcome of a refused send, and the Graph error code."""
    code, sub, message = error_of(response)
    if code in THROTTLED:
        return failed(f"{platform} is rate limiting; retrying", retryable=True), code
    retry = transient(response, "")
    if retry is not None:
        return retry, code
    key = sub if sub in reasons else code
    if key in reasons:
        return failed(reasons[key]), code
    detail = f": {message}" if message else ""
    return failed(f"{platform} refused the message (error {code}){detail}"), code
