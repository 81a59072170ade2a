"""The rate limiters' shared storage (Redis) down: requests are let through, and the
log says so once per outage, not with a traceback for every request."""

from __future__ import annotations

import logging

import pytest

from devkit import services
from gateway.settings import Settings
from gateway.web.limits import Limits


def storage_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and "rate limit storage failed" in r.getMessage()
    ]


async def test_a_limiter_whose_redis_is_down_lets_requests_through_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = services.start_redis()
    try:
        limits = Limits(Settings(redis_url=redis.url, secret_key="k" * 32))
        caplog.set_level(logging.DEBUG, logger="gateway")
        await limits.admit_connection("192.0.2.1")
        assert storage_warnings(caplog) == []
        redis.proc.kill()
        redis.proc.wait()
        for _ in range(5):  # every request still admitted
            await limits.admit_connection("192.0.2.1")
        warned = storage_warnings(caplog)
        assert len(warned) == 1 and warned[0].exc_info is not None
        # back: the next outage is said again
        services.restart_redis(redis)
        for _ in range(3):  # the first may meet the pool's dead connection
            await limits.admit_connection("192.0.2.1")
        redis.proc.kill()
        redis.proc.wait()
        await limits.admit_connection("192.0.2.1")
        assert len(storage_warnings(caplog)) == 2
    finally:
        redis.stop()
