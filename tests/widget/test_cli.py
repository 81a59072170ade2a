"""`gateway domain-match`, run for real as a subprocess: output and exit codes 0/1/2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "domain-match", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_match_exits_0_and_explains() -> None:
    proc = _run("WWW.Example.com", "https://www.example.com/cart")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "domain:   example.com",
        "accepts:  example.com and www.example.com, over http or https, "
        "on the default port (80 for http, 443 for https)",
        "page:     https://www.example.com/cart",
        "match:    host www.example.com is example.com with www. ignored, "
        "scheme https is allowed and port 443 is the default for https",
    ]
    assert proc.stderr == ""


@pytest.mark.parametrize(
    ("configured", "page", "reason"),
    [
        ("example.com", "https://evilexample.com/", "not example.com or a www. form of it"),
        ("example.com", "https://example.com@evil.net/", "host evil.net is not example.com"),
        ("https://example.com", "http://example.com/", "scheme http is not the configured"),
        ("example.com", "not a url", "cannot be used"),
    ],
)
def test_no_match_exits_1_and_explains(configured: str, page: str, reason: str) -> None:
    proc = _run(configured, page)
    assert proc.returncode == 1, proc.stderr
    last = proc.stdout.splitlines()[-1]
    assert last.startswith("no match: ")
    assert reason in last


def test_invalid_domain_exits_2_with_message_on_stderr() -> None:
    proc = _run("example.com/shop", "https://example.com/shop")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "subdirectories are not supported" in proc.stderr
    assert "'example.com/shop'" in proc.stderr


def test_origin_flag_checks_an_origin_header() -> None:
    ok = _run("--origin", "bücher.example", "https://xn--bcher-kva.example")
    assert ok.returncode == 0, ok.stderr
    assert "domain:   xn--bcher-kva.example" in ok.stdout
    assert "origin:   https://xn--bcher-kva.example" in ok.stdout
    # A trailing slash is fine in a page URL but never in an Origin header.
    assert _run("bücher.example", "https://xn--bcher-kva.example/").returncode == 0
    bad = _run("--origin", "bücher.example", "https://xn--bcher-kva.example/")
    assert bad.returncode == 1
    assert "only scheme://host[:port]" in bad.stdout
    null = _run("--origin", "example.com", "null")
    assert null.returncode == 1
    assert "Origin null" in null.stdout


def test_missing_arguments_are_a_usage_error() -> None:
    proc = _run("example.com")
    assert proc.returncode == 2
    assert "PAGE_URL" in proc.stderr
