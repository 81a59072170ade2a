"""schemathesis against the OpenAPI document of a live gateway, as an admin: no 5xx, and
every status, content type, header and body as the document says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from devkit.services import ROOT
from tests.security.conftest import start_node

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is missing: install the dev dependencies (pip install -e .[dev])"
    return found


def test_the_http_apis_conform_to_their_openapi_document() -> None:
    node = start_node()
    try:
        token = httpx.post(
            node.base_url + "/api/login",
            json={"email": "admin@demo.test", "password": "demo-admin"},
        ).json()["token"]
        run = subprocess.run(
            [
                _schemathesis(),
                "run",
                node.base_url + "/api/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--header",
                f"Origin: {node.base_url}",
                "--checks",
                CHECKS,
                "--max-examples",
                "15",
                # Logging out would revoke the token the rest of the run uses.
                "--exclude-path",
                "/api/logout",
                "--seed",
                "1",
                "--max-failures",
                "20",
            ],
            capture_output=True,
            text=True,
            # 68 to 121 s in CI; past 300 at load average 6 (the whole suite beside it)
            timeout=900,
            cwd=ROOT,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.security.schemathesis_hooks"},
        )
    finally:
        node.stop()
    report = run.stdout[-6000:] + run.stderr[-2000:]
    summary = run.stdout.split("SUMMARY")[-1]
    assert "generated" in summary and "Test Phases" in summary, report
    # Every response as documented, including the 404 of an id routing cannot match
    # (a newline, %2F), which the API answers in its JSON error shape.
    assert run.returncode == 0, report
    assert "Server error" not in run.stdout and "ST100" not in run.stdout, report
    assert "Traceback" not in node.output(), node.output()[-3000:]
