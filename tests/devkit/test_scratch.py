"""One scratch root per session: temporary files go under it, and it is removed after."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from devkit.scratch import remove_in_background, scratch_root


def _fill(directory: Path) -> None:
    """A tree like a server's data directory."""
    for i in range(200):
        (directory / f"{i % 10}").mkdir(exist_ok=True)
        (directory / f"{i % 10}" / f"f{i}").write_bytes(b"x" * 100)


def test_temporary_files_go_under_the_root_and_it_is_removed() -> None:
    before = tempfile.gettempdir(), os.environ.get("TMPDIR")
    with scratch_root("gw-test-scratch-") as root:
        assert tempfile.gettempdir() == str(root) and os.environ["TMPDIR"] == str(root)
        inner = Path(tempfile.mkdtemp())
        assert inner.parent == root
        _fill(inner)
    assert (tempfile.gettempdir(), os.environ.get("TMPDIR")) == before
    assert not root.exists()


def test_a_root_removed_in_the_background_is_gone_once_its_process_ends() -> None:
    root = Path(tempfile.mkdtemp(prefix="gw-test-scratch-"))
    _fill(root)
    remover = remove_in_background(root)
    assert remover is not None  # rm is there on the machines the tests run on
    assert remover.wait(60) == 0
    assert not root.exists()


_AT_EXIT = """
import atexit
from devkit import scratch

def report() -> None:  # registered first, so it runs after the removal has started
    for remover in scratch.REMOVERS:
        remover.wait(60)
    print("gone" if not root.exists() else "left", flush=True)

atexit.register(report)
with scratch.scratch_root("gw-test-scratch-", at_exit=True) as root:
    (root / "f").write_bytes(b"x")
print("after", root.exists(), flush=True)
"""


def test_a_root_removed_at_exit_outlives_its_context_and_goes_when_the_process_ends() -> None:
    root_dir = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _AT_EXIT],
        cwd=root_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # still there when the context ends (pytest cleans up under it after that), gone
    # once the interpreter has exited and the removal it started has ended
    assert out.stdout.split() == ["after", "True", "gone"]
