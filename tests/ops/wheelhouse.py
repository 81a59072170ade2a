"""A local wheelhouse of what running the gateway needs, packed from this test session's
own environment, so a test of scripts/_venv.sh installs with ``--no-index`` in seconds
instead of fetching 45 MB from PyPI (90 s of waiting on the development machine).

Each installed distribution the project needs at run time (its requirements, their
requirements, with their markers and extras) is zipped back into a wheel from the files
its RECORD lists: the same files, at the versions constraints.txt pinned. pip does the
rest as it would from PyPI: resolving, checking the constraints, installing."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import Distribution, distribution
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = "engagement-gateway"


def runtime_distributions() -> list[Distribution]:
    """The installed distributions running the project needs (not its dev extra)."""
    env: dict[str, str] = dict(default_environment())
    found: dict[str, Distribution] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    # a requirement, and the extras of the distribution that asked for it
    todo = [(Requirement(r), frozenset[str]()) for r in distribution(PROJECT).requires or []]
    while todo:
        req, extras_of_asker = todo.pop()
        if req.marker is not None and not any(
            req.marker.evaluate({**env, "extra": e}) for e in (extras_of_asker or {""})
        ):
            continue
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = found.setdefault(key[0], distribution(req.name))
        todo += [(Requirement(r), key[1]) for r in dist.requires or []]
    return list(found.values())


def pack(dist: Distribution, into: Path, binaries: bool = False) -> Path:
    """The wheel of an installed distribution: its files under site-packages, no
    bytecode (pip compiles again), no scripts (pip writes them from entry_points.txt);
    with ``binaries``, its files in bin/ too, as the wheel's data (uv's program)."""
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [
        line.split(": ", 1)[1].split("-")
        for line in wheel_meta.splitlines()
        if line.startswith("Tag:")
    ]
    # the file name's compressed tag set: py2.py3-none-any, cp311-cp311-manylinux_a.manylinux_b
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))
    name = dist.metadata["Name"].replace("-", "_")
    path = into / f"{name}-{dist.version}-{tag}.whl"
    site = Path(str(dist.locate_file("")))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as whl:  # stored: no CPU to spare
        for file in dist.files or []:
            rel = file.as_posix()
            if binaries and rel.startswith("../../../bin/"):
                whl.write(site / rel, f"{name}-{dist.version}.data/scripts/{file.name}")
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
                continue
            whl.write(site / rel, rel)
    return path


def build(root: Path, into: Path, uv: bool = True) -> Path:
    """The wheelhouse: the runtime set, and what building the project itself requires
    (setuptools: the one download, 1 MB, from the indexes pip is configured with); uv
    too unless told (scripts/_venv.sh installs with it when it can have it)."""
    into.mkdir(parents=True, exist_ok=True)
    for dist in runtime_distributions():
        pack(dist, into)
    if uv:
        pack(distribution("uv"), into, binaries=True)
    backend = tomllib.loads((root / "pyproject.toml").read_text())["build-system"]["requires"]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "download", "-q", "--no-deps", "-d", str(into), *backend],
        check=True,
        capture_output=True,
    )
    return into
