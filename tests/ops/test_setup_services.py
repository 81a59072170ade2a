"""scripts/setup-services: the Debian packages ./scripts/test needs, installed when absent,
and the README naming each of them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "setup-services"


def test_every_package_it_installs_is_named_in_the_readme() -> None:
    packages = re.findall(r"need\+=\(([\w.-]+)\)", SCRIPT.read_text())
    assert "npm" in packages and "nginx" in packages
    readme = (ROOT / "README.md").read_text()
    for name in packages:
        assert f"`{name}`" in readme, name


def test_npm_is_installed_when_absent(tmp_path: Path) -> None:
    """The browser tests' axe-core comes from npm, which nothing used to install."""
    copy = tmp_path / "root"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, copy / "scripts" / "setup-services")
    (copy / "tests" / "browser" / "node_modules" / "axe-core").mkdir(parents=True)
    bin_dir = tmp_path / "bin"  # a PATH without npm; apt-get and sudo only write down
    bin_dir.mkdir()
    for tool in ("bash", "ls", "id", "dirname"):
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    log = tmp_path / "apt.log"
    for stub in ("apt-get", "sudo"):
        (bin_dir / stub).write_text(f'#!/bin/bash\necho "$@" >> {log}\n')
        (bin_dir / stub).chmod(0o755)
    r = subprocess.run(
        ["bash", str(copy / "scripts" / "setup-services")],
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    installs = [line for line in log.read_text().splitlines() if "install" in line]
    assert any("npm" in line.split() for line in installs), installs
