"""A test that hangs names itself (devkit/hang.py, wired in tests/conftest.py): a pytest
run of one test that waits for good ends by itself, with the test's name, its thread
stacks and the coroutine its task waits in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from devkit import hang

ROOT = Path(__file__).resolve().parents[2]

HUNG = """
import asyncio


async def wait_for_nothing() -> None:
    await asyncio.get_running_loop().create_future()  # never set


async def test_waits_for_good() -> None:
    await wait_for_nothing()
"""


def _clean_env() -> dict[str, str]:
    """This run's environment without what pytest-xdist sets in its workers (the run in
    the subprocess is not one of them)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}


def test_a_hung_test_ends_the_run_naming_itself_and_where_it_waits(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_runtest_protocol\n")
    (tmp_path / "test_hung.py").write_text(HUNG)
    env = {**_clean_env(), "GATEWAY_TEST_HANG_AFTER": "1", "PYTHONPATH": str(ROOT)}
    plugins = ["-p", "no:cacheprovider", "-p", "no:randomly", "-o", "asyncio_mode=auto"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *plugins, "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # the watchdog ends it after 1 s; a run that reaches this, it did not
    )
    out = done.stdout + done.stderr
    assert done.returncode == hang.EXIT_CODE, out
    assert "test_hung.py::test_waits_for_good: still running after 1 s" in out
    assert "Current thread" in out or "Thread 0x" in out  # faulthandler's stacks
    assert "asyncio tasks of" in out
    assert "in wait_for_nothing" in out  # down the task's awaits to where it waits


def test_under_xdist_the_whole_run_ends(tmp_path: Path) -> None:
    """Under pytest-xdist the worker's exit left the controller waiting for good for the
    tests it had given that worker (--dist loadgroup, as ./scripts/test runs): the run
    hung instead of failing. The worker interrupts the controller: the run ends, failed."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems, pytest_configure,"
        " pytest_runtest_protocol\n"
    )
    (tmp_path / "test_hung.py").write_text(HUNG + "\n\ndef test_fine() -> None:\n    pass\n")
    (tmp_path / "test_other.py").write_text("def test_a() -> None:\n    pass\n")
    env = {**_clean_env(), "GATEWAY_TEST_HANG_AFTER": "2", "PYTHONPATH": str(ROOT)}
    plugins = ["-p", "no:cacheprovider", "-p", "no:randomly", "-o", "asyncio_mode=auto"]
    xdist = ["-n", "2", "--dist", "loadgroup", "--rootdir", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *plugins, *xdist, str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # the run ends a few seconds after the watchdog; reaching this, it hung
    )
    out = done.stdout + done.stderr
    # interrupted (pytest's 2) at once; without it the controller waited, and its run
    # ended only when its replacements of the worker had crashed as often as allowed
    assert done.returncode == 2, out
    assert "test_hung.py::test_waits_for_good" in out and "still running after 2 s" in out
    assert "maximum crashed workers" not in out
