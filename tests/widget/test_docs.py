"""docs/domains.md cannot drift: its example tables and CLI transcript are run here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from channels.chat.domain import InvalidDomain, match_page, parse_domain

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "domains.md").read_text(encoding="utf-8")


def _table(name: str) -> list[list[str]]:
    """Rows of the markdown table between <!-- name:start --> and <!-- name:end -->."""
    m = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", DOC, re.S)
    assert m, f"docs/domains.md lost its {name} table"
    lines = [ln for ln in m.group(1).splitlines() if ln.startswith("|")][2:]  # skip header
    return [[c.strip().strip("`") for c in ln.strip("|").split("|")] for ln in lines]


EXAMPLES = _table("domain-examples")
INVALID = _table("domain-invalid")


def test_tables_are_substantial() -> None:
    # A broken regex or table format must not make the parametrized tests vacuous.
    assert len(EXAMPLES) >= 30
    assert len(INVALID) >= 15
    assert {row[2] for row in EXAMPLES} == {"yes", "no"}


@pytest.mark.parametrize(("configured", "page", "expected", "fragment"), EXAMPLES)
def test_documented_example(configured: str, page: str, expected: str, fragment: str) -> None:
    result = match_page(parse_domain(configured), page)
    assert result.matched is (expected == "yes"), result.reason
    assert fragment in result.reason


@pytest.mark.parametrize(("configured", "fragment"), INVALID)
def test_documented_rejection(configured: str, fragment: str) -> None:
    with pytest.raises(InvalidDomain) as info:
        parse_domain(configured)
    assert fragment in str(info.value)


def test_documented_cli_transcript() -> None:
    m = re.search(r"```\n\$ gateway (domain-match [^\n]+)\n(.*?)```", DOC, re.S)
    assert m, "docs/domains.md lost its CLI transcript"
    proc = subprocess.run(
        [sys.executable, "-m", "gateway", *m.group(1).split()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.stdout == m.group(2)
