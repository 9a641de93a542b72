"""Targets and verdicts: each bench reports its issue-26 row here; ``python -m bench`` prints the table.

A row is one measured figure against its target, with the direction that is better. Benches call
:func:`report` once per row; the figure is printed at once (so a single bench run shows it) and
kept for the closing table of ``python -m bench``.
"""
from __future__ import annotations

from dataclasses import dataclass

ROWS: list["Row"] = []


@dataclass(frozen=True)
class Row:
    name: str
    measured: float
    target: float
    unit: str
    higher_is_better: bool

    @property
    def met(self) -> bool:
        return self.measured >= self.target if self.higher_is_better else self.measured <= self.target

    def line(self) -> str:
        sign = "≥" if self.higher_is_better else "≤"
        verdict = "MET" if self.met else "MISSED"
        return f"{self.name}: {_fmt(self.measured)} {self.unit} (target {sign} {_fmt(self.target)} {self.unit}) {verdict}"


def _fmt(x: float) -> str:
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3g}"


def report(name: str, measured: float, target: float, unit: str, *, higher_is_better: bool) -> Row:
    """Print and keep one row: ``name: measured unit (target ≤/≥ target unit) MET|MISSED``."""
    row = Row(name, float(measured), float(target), unit, higher_is_better)
    ROWS.append(row)
    print("verdict " + row.line(), flush=True)
    return row


def table() -> str:
    """Every row reported so far, one per line, for the end of ``python -m bench``."""
    if not ROWS:
        return ""
    width = max(len(r.name) for r in ROWS)
    out = ["targets (issue 26):"]
    for r in ROWS:
        sign = "≥" if r.higher_is_better else "≤"
        out.append(f"  {r.name:<{width}}  {_fmt(r.measured):>10} {r.unit:<10} target {sign} {_fmt(r.target)}"
                   f"  {'MET' if r.met else 'MISSED'}")
    return "\n".join(out)
