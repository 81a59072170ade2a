"""Outbound HTTP clients share one TLS context: building one loads the CA bundle (about
50 ms of CPU on the event loop on the test machine), which every client (the webhooks'
sender, each provider adapter) did again at start-up.

The webhooks' sender is an aiohttp session, the provider adapters httpx clients: a POST
costs httpx about 1,150 µs of CPU and aiohttp about 180 on the benchmark machine, and the
webhooks' sender makes one for every event an automation subscribes to, every message
included (docs/benchmarks.md, *Automations*; the choice: docs/architecture.md)."""

from __future__ import annotations

import functools
import ssl
import urllib.request
from typing import Any

import aiohttp
import httpx


@functools.cache
def tls() -> ssl.SSLContext:
    """httpx's default verification (certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    return httpx.create_ssl_context()


def client(**kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` on the shared TLS context; redirects not followed."""
    return httpx.AsyncClient(verify=tls(), follow_redirects=False, **kwargs)


def session(timeout: float, **kwargs: Any) -> aiohttp.ClientSession:
    """An ``aiohttp.ClientSession`` on the shared TLS context, ``timeout`` seconds for a
    whole request. Made inside the event loop it is used on.

    Proxies are read from the environment as httpx does (``HTTPS_PROXY``, ``NO_PROXY``),
    but only where one is set: aiohttp then looks each request's up, and ``.netrc``, on a
    thread (a quarter of the py-spy samples of its POSTs)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=tls(), limit=64),
        timeout=aiohttp.ClientTimeout(total=timeout),
        trust_env=bool(urllib.request.getproxies()),
        **kwargs,
    )
