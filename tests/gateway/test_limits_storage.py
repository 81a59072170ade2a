"""The rate limiters' shared storage (Redis) down: requests are let through, and the
log says so once per outage, not with a traceback for every request."""

from __future__ import annotations

import logging

import pytest

from devkit import services
from gateway.errors import RateLimited
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


async def test_what_a_start_gives_back_is_only_what_it_counted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A start that made no conversation gives its counts back; one whose count was
    refused (another start took the last slot between its check and its count) has
    nothing to give back, and the limit stays whole."""
    limits = Limits(Settings(conversations_per_ip_per_hour=1, secret_key="k" * 32))
    ip, tp = "192.0.2.7", "tp_x"
    give_back = await limits.admit_conversation(ip, tp)
    assert give_back is not None
    await give_back()  # it joined another node's conversation: not one of its own
    assert await limits.admit_conversation(ip, tp) is not None  # the slot is free again
    # checked before the other start counted, counted after it: the count is refused
    checks = iter([True])
    real = limits._test

    async def raced(*args: object, **kwargs: object) -> bool:
        return next(checks, None) or await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(limits, "_test", raced)
    raced_back = await limits.admit_conversation(ip, tp)  # its IP count was refused
    assert raced_back is not None  # the touchpoint's (a higher limit) was counted
    await raced_back()  # it too made no conversation
    with pytest.raises(RateLimited):
        await limits.admit_conversation(ip, tp)  # the IP's one count stands
