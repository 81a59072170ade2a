"""schemathesis over the integration API (with an integration touchpoint's API key) and
the automations' admin API (with an admin's token), against a live gateway: no 5xx, and
every status, content type, header and body as the OpenAPI document says. The whole
document is fuzzed with an admin token by test_openapi_fuzz.py; here the integration
endpoints are reached with the credentials they take."""

from __future__ import annotations

import os
import subprocess

import httpx

from devkit.services import ROOT
from tests.security.conftest import start_node
from tests.security.test_openapi_fuzz import CHECKS, _schemathesis

SECRET = "fuzz-signing-secret-0123456789abcdef0123"


def _run(
    node_url: str, token: str, include: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _schemathesis(),
            "run",
            node_url + "/api/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--include-path-regex",
            include,
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--max-failures",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=ROOT,
        env={**os.environ, **env},
    )


def test_the_integration_and_automation_apis_conform_to_their_document() -> None:
    node = start_node()
    try:
        admin = httpx.post(
            node.base_url + "/api/login",
            json={"email": "admin@demo.test", "password": "demo-admin"},
        ).json()["token"]
        auth = {"Authorization": f"Bearer {admin}"}
        r = httpx.post(
            node.base_url + "/api/admin/touchpoints",
            headers=auth,
            json={
                "id": "tp_fuzz",
                "name": "Fuzz",
                "channel": "api",
                "direction": "both",
                "routing_mode": "simplified",
                "queue_ids": ["q_support"],
                # nothing listens there: deliveries fail and retry, off the request path
                "settings": {"webhook_url": "http://127.0.0.1:9/hooks", "signing_secret": SECRET},
            },
        )
        assert r.status_code == 201, r.text
        assert (
            httpx.post(
                node.base_url + "/api/admin/touchpoints/tp_fuzz/activate", headers=auth
            ).status_code
            == 200
        )
        key = httpx.post(
            node.base_url + "/api/admin/touchpoints/tp_fuzz/api-keys",
            headers=auth,
            json={"name": "fuzz"},
        ).json()["key"]
        conv = httpx.post(
            node.base_url + "/api/integrations/tp_fuzz/conversations",
            headers={"Authorization": f"Bearer {key}"},
            json={"contact": {"email": "fuzz@example.com"}, "message": "hello"},
        )
        assert conv.status_code == 201, conv.text
        env = {
            "SCHEMATHESIS_HOOKS": "tests.security.schemathesis_integration_hooks",
            "FUZZ_TOUCHPOINT": "tp_fuzz",
            "FUZZ_CONVERSATION": conv.json()["id"],
        }
        runs = [
            _run(node.base_url, key, "^/api/integrations/", env),
            _run(
                node.base_url,
                admin,
                "^/api/admin/(webhooks|touchpoints/[^/]+/(api-keys|failed-messages|bot-events))",
                env,
            ),
        ]
    finally:
        node.stop()
    for run in runs:
        report = run.stdout[-6000:] + run.stderr[-2000:]
        summary = run.stdout.split("SUMMARY")[-1]
        assert "generated" in summary and "Test Phases" in summary, report
        assert run.returncode == 0, report
        assert "Server error" not in run.stdout, report
    assert "Traceback" not in node.output(), node.output()[-3000:]
