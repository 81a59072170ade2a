"""Session-wide real services. See devkit/services.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devkit import services


@pytest.fixture(scope="session")
def postgres() -> Iterator[services.Postgres]:
    try:
        pg = services.start_postgres()
    except services.ServiceMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[services.Redis]:
    try:
        server = services.start_redis()
    except services.ServiceMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[services.S3Server]:
    try:
        server = services.start_s3()
    except services.ServiceMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[services.Dovecot]:
    try:
        server = services.start_dovecot()
    except services.ServiceMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the
    main thread for the rest of the session, which async tests cannot share."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
