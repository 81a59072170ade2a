"""Formatting shared by the benchmark page's sections (bench/report.py and its
``*_page`` modules)."""

from __future__ import annotations

import math
from typing import Any


def _n(x: Any, digits: int = 0) -> str:
    if x is None:
        return "—"
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return "—"
    if isinstance(x, int | float):
        return f"{x:,.{digits}f}" if digits else f"{round(x):,}"
    return str(x)


def _ms(x: Any) -> str:
    return "—" if x is None else f"{x:,.1f}" if x >= 10 else f"{x:.2f}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _met(flag: Any) -> str:
    return "**met**" if flag else "**not met**"
