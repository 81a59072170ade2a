"""The admin REST API (placeholder until it lands)."""

from __future__ import annotations

from starlette.routing import BaseRoute


def admin_routes() -> list[BaseRoute]:
    return []
