"""Every relative link in README.md and docs/ names a file that exists: the docs point
into each other (the benchmarks page to its sittings, the deploy guide to both), and a
page moved or renamed must not leave a reader at a dead end."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.S)


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def test_relative_links_resolve() -> None:
    dead = []
    for page in _pages():
        text = FENCE.sub("", page.read_text(encoding="utf-8"))
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL or an anchor on the same page
            path = target.split("#", 1)[0]
            if not (page.parent / path).exists():
                dead.append(f"{page.relative_to(ROOT)}: {target}")
    assert not dead, dead


def test_the_check_sees_links() -> None:
    # the pattern finds the links the pages have (a check that matched nothing would pass)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = LINK.findall(readme)
    assert "docs/benchmarks-contact-center.md" in links
    assert "docs/benchmarks-relay.md" in links
