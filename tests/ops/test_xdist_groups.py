"""How ./scripts/test spreads the suite over pytest-xdist workers (tests/conftest.py):
a file's tests on one worker, ``apart`` tests alone and first, browser tests last."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from tests import conftest

ROOT = Path(__file__).resolve().parents[2]
FILES = ("tests/bench/test_relay_page.py", "tests/routing/test_flow.py")  # fast, no servers


def test_a_files_tests_run_on_one_worker() -> None:
    # Two bugs once spread every test on its own: the hook asked for ``dist``, which
    # pytest-xdist sets to "no" on its workers, and pytest 9.2 drops the group xdist 3.8
    # writes into the test's id (constraints.txt).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    xdist = ["-n", "2", "--dist", "loadgroup", "--no-loadscope-reorder"]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", *xdist, "-p", "no:cacheprovider", "-v", *FILES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    workers: dict[str, set[str]] = defaultdict(set)
    for worker, path in re.findall(r"^\[(gw\d+)\].* PASSED (\S+?)::", run.stdout, re.M):
        workers[path].add(worker)
    assert set(workers) == set(FILES), run.stdout[-3000:]
    assert all(len(w) == 1 for w in workers.values()), dict(workers)


@dataclass
class Item:
    """What the hook reads of a test item."""

    name: str
    path: Path
    marks: list[str]
    added: list[Any] = field(default_factory=list)

    def get_closest_marker(self, name: str) -> object | None:
        if name == "xdist_group":
            return self.added[-1] if self.added else None
        return name if name in self.marks else None

    def add_marker(self, mark: Any) -> None:
        self.added.append(mark)


def test_apart_tests_are_groups_of_their_own_and_go_first() -> None:
    a, b = ROOT / "tests/a/test_a.py", ROOT / "tests/b/test_b.py"
    items = [
        Item("test_one", a, []),
        Item("test_seen", a, ["browser"]),
        Item("test_long", b, ["apart"]),
        Item("test_two", a, []),
        Item("test_three", b, []),
    ]
    config = SimpleNamespace(option=SimpleNamespace(loadgroup=True), rootpath=ROOT)
    conftest.pytest_collection_modifyitems(
        cast(pytest.Config, config), cast(list[pytest.Item], items)
    )
    groups = [(i.name, i.added[0].args[0]) for i in items]
    assert groups == [
        ("test_long", "tests/b/test_b.py::test_long"),
        ("test_one", "tests/a/test_a.py"),
        ("test_two", "tests/a/test_a.py"),
        ("test_three", "tests/b/test_b.py"),
        ("test_seen", "tests/a/test_a.py:browser"),
    ]
