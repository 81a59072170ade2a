"""One scratch root per session: temporary files go under it, and it is removed after."""

from __future__ import annotations

import os
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
