"""What Meta's two emulators share: the Graph API's error shape, the webhook signature
(``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the app secret>``),
and the contacts' session windows the Graph API enforces."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from starlette.responses import JSONResponse

from devkit.emulators.base import Emulator


def graph_error(
    status: int, code: int, message: str, subcode: int | None = None, **extra: Any
) -> JSONResponse:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGhIjK",
        **extra,
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return JSONResponse({"error": error}, status_code=status)


def signed(app_secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


class MetaEmulator(Emulator):
    window = 24 * 3600.0

    def __init__(self) -> None:
        super().__init__()
        # (business id, contact id) -> when the contact last wrote (UNIX seconds)
        self.last_inbound: dict[tuple[str, str], float] = {}

    def window_open(self, business: str, contact: str, now: float) -> bool:
        last = self.last_inbound.get((business, contact))
        return last is not None and now - last < self.window

    def reset(self) -> None:
        super().reset()
        self.last_inbound.clear()
