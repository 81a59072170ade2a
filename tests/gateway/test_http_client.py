"""Outbound HTTP clients (webhooks, provider adapters) load the CA bundle once per
process, not once per client (gateway/services/http_client.py)."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from channels import outbound
from gateway.services import http_client
from gateway.services.webhooks import WebhookSender


async def test_clients_share_one_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[ssl.SSLContext] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    http_client.tls.cache_clear()
    clients = [outbound.client(), outbound.client()]
    sender = WebhookSender(lambda: 0.0)
    try:
        assert sender.session().connector is not None
        assert len(made) == 1
        # still verifying certificates, as httpx does by default
        assert made[0].verify_mode is ssl.CERT_REQUIRED and made[0].check_hostname
    finally:
        for c in clients:
            await c.aclose()
        await sender.close()
