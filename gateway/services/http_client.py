"""Outbound HTTP clients share one TLS context: building one loads the CA bundle (about
50 ms of CPU on the event loop on the test machine), which every client (the webhooks'
sender, each provider adapter) did again at start-up."""

from __future__ import annotations

import functools
import ssl
from typing import Any

import httpx


@functools.cache
def tls() -> ssl.SSLContext:
    """httpx's default verification (certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    return httpx.create_ssl_context()


def client(**kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on the shared TLS context; redirects not followed."""
    return httpx.AsyncClient(verify=tls(), follow_redirects=False, **kwargs)
