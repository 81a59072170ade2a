"""One scratch directory per test session or benchmark run, removed at its end.

The servers in devkit/services.py, the gateways and the tests create their temporary
directories with :mod:`tempfile`; pointing it (and ``TMPDIR``, which child processes
inherit) at one directory per run lets that run remove everything at once. Without it
every session left its PostgreSQL data directory (about 1 GB of WAL) behind and a busy
machine filled its disk in a day.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scratch_root(prefix: str, *, at_exit: bool = False) -> Iterator[Path]:
    """``at_exit``: the root is removed by a process of its own, started when this
    interpreter exits (a test session's end: pytest cleans up the temporary directories
    it made under the root after the session's fixtures are gone, and removing the root
    at the fixture's teardown raced that clean-up: FileNotFoundError on
    ``pytest-current``); else it is removed before this returns (a benchmark run's end,
    so that the removal does not run beside the next run's measurements)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    # PostgreSQL runs as the 'postgres' user when the tests run as root: it must be able
    # to reach its own directory inside this one (listing stays private).
    root.chmod(0o711)
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(root)
    os.environ["TMPDIR"] = str(root)
    try:
        yield root
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        if at_exit:
            atexit.register(remove_in_background, root)
        else:
            shutil.rmtree(root, ignore_errors=True)


# The removals remove_in_background started from this interpreter (a test waits on them).
REMOVERS: list[subprocess.Popen[bytes]] = []


def remove_in_background(root: Path) -> subprocess.Popen[bytes] | None:
    """``root`` removed by a process of its own that outlives this one (returned; None
    when there is no ``rm`` and it was removed here). A test session's root holds every
    test database's files: removing them took 3 to 15 s (3,000 to 63,000 files) at the
    end of each pytest-xdist worker, after its last test, and the last worker's was the
    end of the run."""
    rm = shutil.which("rm")
    if rm is None:
        shutil.rmtree(root, ignore_errors=True)
        return None
    remover = subprocess.Popen(
        [rm, "-rf", "--", str(root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    REMOVERS.append(remover)
    return remover
