"""`gateway touchpoint add | list | check`, run for real as a subprocess against a real
gateway: the admin API's own validation, output and exit codes: those of `gateway agent`
(docs/deploy.md): 2 refused input, 1 the gateway out of reach or the login failed, and 3
for `check`'s no match."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from devkit import services
from tests.gateway.conftest import ADMIN, AGENT

ROOT = services.ROOT


@pytest.fixture(scope="module")
def node() -> Iterator[services.GatewayProcess]:
    gw = services.start_gateway({"GATEWAY_DEMO": "1"})
    yield gw
    gw.stop()


def cli(
    node: services.GatewayProcess, *args: str, who: tuple[str, str] = ADMIN
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_ADMIN_EMAIL=who[0], GATEWAY_ADMIN_PASSWORD=who[1])
    return subprocess.run(
        [sys.executable, "-m", "gateway", "touchpoint", *args, "--url", node.base_url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_add_creates_an_active_chat_touchpoint_and_prints_its_snippet(
    node: services.GatewayProcess,
) -> None:
    proc = cli(
        node,
        "add",
        "--name",
        "Shop (EN)",
        "--domain",
        "WWW.Shop.Example",
        "--queue",
        "q_support",
        "--display-name",
        "Shop",
        "--id",
        "tp_cli_shop",
        "--activate",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "touchpoint tp_cli_shop created (active)"
    assert lines[2] == "domain:   shop.example"
    assert lines[3] == (
        f'snippet:  <script src="{node.base_url}/widget/loader.js" '
        'data-touchpoint="tp_cli_shop" async></script>'
    )
    token = services.login_token(node.base_url, *ADMIN)
    tp = httpx.get(
        node.base_url + "/api/admin/touchpoints/tp_cli_shop",
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    assert tp["active"] and tp["display_name"] == "Shop" and tp["queue_ids"] == ["q_support"]

    listed = cli(node, "list")
    assert listed.returncode == 0
    assert "tp_cli_shop\tchat\tactive\tshop.example\tShop (EN)" in listed.stdout.splitlines()

    yes = cli(node, "check", "tp_cli_shop", "https://www.shop.example/cart")
    assert yes.returncode == 0 and yes.stdout.splitlines()[-1].startswith("match:")
    no = cli(node, "check", "tp_cli_shop", "https://evilshop.example/")
    assert no.returncode == 3 and no.stdout.splitlines()[-1].startswith("no match:")


def test_add_is_refused_with_the_admin_apis_own_reasons(node: services.GatewayProcess) -> None:
    proc = cli(node, "add", "--name", "Shop", "--domain", "example.com/shop", "--queue", "q_nope")
    assert proc.returncode == 2  # refused input, as gateway agent's
    assert proc.stdout == ""
    problems = proc.stderr.splitlines()[1:]
    assert any(
        line.startswith("  domain: invalid domain 'example.com/shop': path") for line in problems
    )
    assert "  queue_ids: unknown queue id(s): q_nope" in problems


def test_who_may_and_where(node: services.GatewayProcess) -> None:
    wrong = cli(node, "list", who=(ADMIN[0], "not the password"))
    assert wrong.returncode == 1 and "login as admin@demo.test failed" in wrong.stderr
    agent = cli(node, "list", who=AGENT)
    assert agent.returncode == 1 and "is not an admin" in agent.stderr
    gone = subprocess.run(
        [sys.executable, "-m", "gateway", "touchpoint", "list"],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
            "GATEWAY_ADMIN_EMAIL": ADMIN[0],
            "GATEWAY_ADMIN_PASSWORD": ADMIN[1],
            "GATEWAY_PORT": str(services.free_port()),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gone.returncode == 1 and "cannot reach the gateway at http://127.0.0.1:" in gone.stderr
    # no admin named: input missing, refused before the gateway is asked
    nobody = subprocess.run(
        [sys.executable, "-m", "gateway", "touchpoint", "list", "--url", node.base_url],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert nobody.returncode == 2 and "who is the admin?" in nobody.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--url", "http://127.0.0.1:51123x"], {}),
        (["--url", "http://127.0.0.1:notaport"], {}),
        (["--url", "http://[::1"], {}),
        (["--url", "127.0.0.1:8000"], {}),
        ([], {"GATEWAY_PORT": "abc"}),
    ],
)
def test_a_bad_url_is_a_usage_error_naming_the_option(args: list[str], env: dict[str, str]) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "gateway", "touchpoint", "list", *args],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
            "GATEWAY_ADMIN_EMAIL": ADMIN[0],
            "GATEWAY_ADMIN_PASSWORD": ADMIN[1],
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert "argument --url" in r.stderr and "Traceback" not in r.stderr
    if env:
        assert "GATEWAY_PORT" in r.stderr
