"""Faults an operator's walkthrough of the docs found in the settings: the deploy
examples' placeholder key, a refused variable also warned of as "ignored", a file's bad
value named as an environment variable, and bounds the docs did not state."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

import msgspec
import pytest

from gateway.errors import ConfigError
from gateway.settings import FIELDS, Settings, load_settings, unknown_variables

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def serve(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "serve"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "GATEWAY_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def example_keys() -> list[str]:
    """The GATEWAY_SECRET_KEY values the deploy examples ship."""
    env = (ROOT / "deploy/systemd/gateway.env.example").read_text()
    k8s = (ROOT / "deploy/k8s/secret.example.yaml").read_text()
    keys = re.findall(r"^GATEWAY_SECRET_KEY=(\S+)$", env, re.M)
    keys += re.findall(r'^\s*GATEWAY_SECRET_KEY: "([^"]+)"$', k8s, re.M)
    assert len(keys) == 2
    return keys


@pytest.mark.parametrize(
    "key",
    [*example_keys(), "x" * 32 + "CHANGE-ME", "Change-Me", "our-key-change-me-later-0123456789"],
)
def test_a_placeholder_secret_key_is_refused_with_how_to_generate_one(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"GATEWAY_SECRET_KEY": key})
    message = str(caught.value)
    assert message.startswith("GATEWAY_SECRET_KEY: holds 'change-me'")
    assert GENERATE in message
    # the command is the one the docs give
    assert GENERATE in (ROOT / "docs/deploy.md").read_text()


def test_the_placeholder_stops_serve_with_one_line_and_status_2(tmp_path: Path) -> None:
    r = serve({"GATEWAY_SECRET_KEY": example_keys()[0]}, tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        "gateway: invalid configuration: GATEWAY_SECRET_KEY: holds 'change-me', an example's "
        f"placeholder anyone can read: generate a key with {GENERATE}"
    ]
    assert not (tmp_path / "data").exists()


def test_the_test_and_demo_set_ups_use_no_placeholder_key() -> None:
    from devkit.services import SECRET_KEY

    load_settings({"GATEWAY_SECRET_KEY": SECRET_KEY})
    for path in [ROOT / "scripts/cluster.py", ROOT / "deploy/compose.yaml"]:
        for line in path.read_text().splitlines():
            if "SECRET_KEY" in line:
                assert "change-me" not in line.lower(), (path, line)


def test_a_refused_variable_is_one_line_not_also_an_ignored_warning(tmp_path: Path) -> None:
    assert unknown_variables({"GATEWAY_MAX_MESSAGE_CHARS": "10"}) == []
    r = serve({"GATEWAY_MAX_MESSAGE_CHARS": "10"}, tmp_path)
    assert r.returncode == 2
    [line] = r.stderr.splitlines()
    assert line.startswith(
        "gateway: invalid configuration: GATEWAY_MAX_MESSAGE_CHARS is not a setting"
    )


@pytest.mark.parametrize(
    ("toml", "env", "fragment"),
    [
        ("port = 0\n", {}, ": port: Expected `int` >= 1"),
        ("history_retention = 5.0\n", {}, ": history_retention: at least 86400"),
        ('log_level = "loud"\n', {}, ": log_level: Invalid enum value 'loud'; one of:"),
        # the environment's value wins, and is named as the variable
        ("port = 8080\n", {"GATEWAY_PORT": "0"}, "GATEWAY_PORT: Expected `int` >= 1"),
        # a pair from the file: both by their keys (the second was named as a variable)
        (
            "delivery_lease = 5.0\nwebhook_timeout = 10.0\n",
            {},
            ": delivery_lease (5) must be longer than webhook_timeout (10)",
        ),
        # one of a pair from the file: the file is named (it was not at all)
        (
            "max_frame_bytes = 20000\n",
            {"GATEWAY_SEND_QUEUE_BYTES": "17000"},
            "GATEWAY_SEND_QUEUE_BYTES (17000) must be at least max_frame_bytes in ",
        ),
    ],
)
def test_a_bad_value_is_named_as_the_operator_wrote_it(
    tmp_path: Path, toml: str, env: dict[str, str], fragment: str
) -> None:
    f = tmp_path / "gateway.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_settings({"GATEWAY_CONFIG_FILE": str(f), **env})
    message = str(caught.value)
    assert fragment in message
    if env:
        assert message.startswith(fragment)
        assert "GATEWAY_" not in message.removeprefix(fragment)
    else:
        assert message.startswith(f"{f}: ") and "GATEWAY_" not in message


def bounds(field: str) -> list[float]:
    """The ge/le bounds of a setting's type (gt=0, "above 0", is said once for all)."""
    hints = typing.get_type_hints(Settings, include_extras=True)
    out: list[float] = []
    for meta in getattr(hints[field], "__metadata__", ()):
        if isinstance(meta, msgspec.Meta):
            out += [b for b in (meta.ge, meta.le) if b is not None]
    return out


@pytest.mark.parametrize("field", [f for f in FIELDS if bounds(f)])
def test_every_bound_is_in_the_documented_row(field: str) -> None:
    row = next(
        line
        for line in DOC.read_text().splitlines()
        if line.startswith(f"| `GATEWAY_{field.upper()}`")
    )
    meaning = row.split("|")[3].replace(",", "")
    for bound in bounds(field):
        assert re.search(rf"(?<![\d.]){bound:g}(?!\d|\.\d)|(?<=\.\.){bound:g}", meaning), (
            field,
            bound,
            row,
        )


def test_a_file_whose_path_holds_a_backslash_is_named_as_written(tmp_path: Path) -> None:
    """The path went into a regular expression's replacement, where ``\\1`` is a group."""
    folder = tmp_path / "conf\\1"
    folder.mkdir()
    f = folder / "gateway.toml"
    f.write_text("max_frame_bytes = 20000\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({"GATEWAY_CONFIG_FILE": str(f), "GATEWAY_SEND_QUEUE_BYTES": "17000"})
    assert f"must be at least max_frame_bytes in {f} (20000)" in str(caught.value)
