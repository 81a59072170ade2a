"""One scratch root per session: temporary files go under it, and it is removed after."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from devkit.scratch import scratch_root


@pytest.mark.parametrize("in_background", [False, True], ids=["at-once", "in-background"])
def test_temporary_files_go_under_the_root_and_it_is_removed(in_background: bool) -> None:
    before = tempfile.gettempdir(), os.environ.get("TMPDIR")
    with scratch_root("gw-test-scratch-", in_background=in_background) as root:
        assert tempfile.gettempdir() == str(root) and os.environ["TMPDIR"] == str(root)
        inner = Path(tempfile.mkdtemp())
        assert inner.parent == root
        for i in range(200):  # a tree like a server's data directory
            (inner / f"{i % 10}").mkdir(exist_ok=True)
            (inner / f"{i % 10}" / f"f{i}").write_bytes(b"x" * 100)
    assert (tempfile.gettempdir(), os.environ.get("TMPDIR")) == before
    if not in_background:
        assert not root.exists()
        return
    # removed by a process of its own: wait for it, boundedly
    deadline = time.monotonic() + 60
    while root.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not root.exists()
