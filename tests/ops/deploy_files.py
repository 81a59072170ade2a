"""Readers for the files in deploy/, shared by the static checks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from gateway.settings import FIELDS, PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTING_NAMES = {PREFIX + name.upper() for name in FIELDS}
DEFAULTS = Settings()


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def need_binary(name: str, package: str) -> str:
    """The binary's path, or fail (never skip) naming the Debian package."""
    found = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None
    )
    if found is None:
        pytest.fail(
            f"{name} not found: install the Debian package '{package}' "
            "(./scripts/setup-services installs what the tests need)",
            pytrace=False,
        )
    return found


def substitute(value: str, env: dict[str, str]) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}``."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3) or ""
        if name in env:
            return env[name]
        if op == ":-":
            return rest
        raise KeyError(f"${{{name}}} is required: {rest}")

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def parse_unit(path: Path) -> list[tuple[str, str, str]]:
    """A systemd unit as (section, key, value) in order; repeated keys stay repeated."""
    items: list[tuple[str, str, str]] = []
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        items.append((section, key.strip(), value.strip()))
    return items


def parse_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=value: {raw!r}"
        env[key.strip()] = value.strip().strip("'\"")
    return env


def systemd_seconds(value: str) -> float:
    """``30``, ``30s``, ``1min 30s`` or ``2min`` in seconds."""
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*(min|ms|s|)", value):
        total += float(number) * {"min": 60.0, "ms": 0.001, "s": 1.0, "": 1.0}[unit]
    return total


def duration_seconds(value: str) -> float:
    """A compose duration such as ``30s`` or ``1m30s``."""
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", value):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}[unit]
    return total


class NginxConf:
    """Just enough of nginx's syntax for the checks: blocks and their directives."""

    def __init__(self, text: str) -> None:
        self.text = re.sub(r"#[^\n]*", "", text)

    def blocks(self, header: str) -> list[str]:
        """Bodies of the blocks whose header matches the regex ``header``."""
        bodies = []
        for match in re.finditer(header + r"\s*\{", self.text):
            depth, start = 1, match.end()
            i = start
            while depth:
                depth += {"{": 1, "}": -1}.get(self.text[i], 0)
                i += 1
            bodies.append(self.text[start : i - 1])
        return bodies

    def block(self, header: str) -> str:
        found = self.blocks(header)
        assert len(found) == 1, f"expected one block {header!r}, found {len(found)}"
        return found[0]

    @staticmethod
    def directives(body: str, name: str, *, nested: bool = False) -> list[str]:
        """Arguments of each ``name ...;`` in body (outside nested blocks unless nested)."""
        if not nested:
            flat, depth = [], 0
            for ch in body:
                depth += {"{": 1, "}": -1}.get(ch, 0)
                if depth == 0 and ch != "}":
                    flat.append(ch)
            body = "".join(flat)
        return [
            m.group(1).strip()
            for m in re.finditer(rf"(?:^|[;{{}}\s]){re.escape(name)}\s+([^;{{}}]*);", body)
        ]
