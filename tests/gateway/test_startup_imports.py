"""A node on the embedded defaults does not import what only a cluster needs: redis-py
(about 0.14 s of CPU at every start) is imported when GATEWAY_REDIS_URL is set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devkit.services import ROOT

PROBE = """
import sys
from gateway.app import create_app
from gateway.settings import load_settings
create_app(load_settings())
print("redis" in sys.modules)
"""


@pytest.mark.parametrize(
    ("redis_url", "imported"), [("", "False"), ("redis://127.0.0.1:1", "True")]
)
def test_redis_is_imported_only_when_configured(
    tmp_path: Path, redis_url: str, imported: str
) -> None:
    env = {**os.environ, "GATEWAY_DATA_DIR": str(tmp_path), "GATEWAY_REDIS_URL": redis_url}
    env["GATEWAY_SECRET_KEY"] = "k" * 32  # required with GATEWAY_REDIS_URL
    env.pop("GATEWAY_CONFIG_FILE", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == imported
