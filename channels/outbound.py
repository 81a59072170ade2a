"""Calling a provider's send API: one HTTP client per adapter, and what an answer means
for the delivery worker (gateway/services/deliveries.py): a timeout, a connection
error, a 5xx or a 429 is worth trying again (after the provider's Retry-After, if it
gave one); any other 4xx is final, with the provider's reason."""

from __future__ import annotations

import logging

import httpx

from gateway.services.deliveries import Outcome, failed

log = logging.getLogger("gateway.channels")

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def transient(response: httpx.Response, reason: str) -> Outcome | None:
    """The outcome of a 5xx or 429 (retry), None for any other status."""
    if response.status_code == 429:
        return failed(
            reason or "the provider is rate limiting",
            retryable=True,
            retry_after=retry_after(response),
        )
    if response.status_code >= 500:
        return failed(f"the provider failed ({response.status_code}); retrying", retryable=True)
    return None


async def post(
    http: httpx.AsyncClient, provider: str, url: str, **kwargs: object
) -> httpx.Response | Outcome:
    """POST to the provider; a retryable Outcome when it cannot be reached in time."""
    try:
        return await http.post(url, **kwargs)  # type: ignore[arg-type]
    except httpx.TimeoutException:
        return failed(f"{provider} did not answer in time; retrying", retryable=True)
    except httpx.TransportError as exc:
        log.warning("%s unreachable: %s", provider, type(exc).__name__)
        return failed(f"{provider} could not be reached; retrying", retryable=True)
