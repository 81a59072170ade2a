"""Session-wide real services. See devkit/services.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, TypeVar

import pytest
from hypothesis import settings

from devkit import hang, services
from devkit.scratch import scratch_root

# No per-example time limit: Hypothesis's default (200 ms) is a timed assertion, and on a
# busy shared machine one example of a pure function took 312 ms. The tests bound their
# examples by count instead.
settings.register_profile("gateway", deadline=None)
settings.load_profile("gateway")


@pytest.fixture(scope="session", autouse=True)
def _scratch() -> Iterator[None]:
    """Every temporary directory of the session (servers' data, gateways' databases)
    lives under one root removed at the end: see devkit/scratch.py."""
    with scratch_root("gw-session-", at_exit=True):
        yield


class _Stoppable(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Stoppable)


def _running(start: Callable[[], S]) -> Iterator[S]:
    """A session's service: started (a clear failure, not a skip, when its binary is
    missing) and stopped at the end."""
    try:
        server = start()
    except services.ServiceMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[services.Postgres]:
    yield from _running(services.start_postgres)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[services.Redis]:
    yield from _running(services.start_redis)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[services.S3Server]:
    yield from _running(services.start_s3)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[services.Dovecot]:
    yield from _running(services.start_dovecot)


def pytest_configure(config: pytest.Config) -> None:
    # here rather than in pyproject.toml, whose every change reinstalls .venv (_venv.sh)
    config.addinivalue_line(
        "markers", "apart: a long test sharing no module fixture: an xdist group of its own, first"
    )


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the
    main thread for the rest of the session, which async tests cannot share.

    Under pytest-xdist (./scripts/test: ``-n auto --dist loadgroup --no-loadscope-reorder``)
    each worker is such a session: a file's tests go to one worker together (its module
    fixtures start once), the browser tests of a file that also has others form a group
    of their own, and the groups are handed out in this order, so every worker runs its
    browser tests after its async ones. A test's own ``xdist_group`` marker wins.

    A test marked ``apart`` (a long one that shares no module fixture) is a group of its
    own and goes first: the rest of its file runs on another worker meanwhile, and the
    longest work starts first, so no worker is left alone with it at the end."""
    items.sort(key=lambda item: (_browser(item), item.get_closest_marker("apart") is None))
    # The workers collect (the scheduler reads their items), and pytest-xdist sets their
    # ``dist`` to "no" and ``loadgroup`` to True: asking ``dist`` alone left every test a
    # group of its own, a module's fixtures starting on both workers.
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            group = item.path.relative_to(config.rootpath).as_posix()
            if item.get_closest_marker("apart") is not None:
                group += "::" + item.name
            elif _browser(item):
                group += ":browser"
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    capture = item.config.pluginmanager.getplugin("capturemanager")
    uncapture = (lambda: capture.suspend_global_capture()) if capture else (lambda: None)
    # a worker has the controller's workerinput (not the environment: a pytest run in a
    # test's subprocess inherits PYTEST_XDIST_WORKER, and its parent is no controller)
    xdist_worker = hasattr(item.config, "workerinput")
    with hang.watched(item.nodeid, uncapture=uncapture, xdist_worker=xdist_worker):
        yield


def _browser(item: pytest.Item) -> bool:
    return item.get_closest_marker("browser") is not None
