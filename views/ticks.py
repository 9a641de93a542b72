"""Ticked DLQ messages follow message coordinates, not row positions (pure; no Streamlit).

The messages table is re-read on every refresh and a Kafka DLQ lists newest first, so a new dead letter
shifts every row: a selection kept as row numbers would move under the operator's ticks. The page keeps
the ticks as a list of coordinates, maps them to rows of what it shows, and holds the shown list still
while anything is ticked (new arrivals are counted, shown on request).
"""
from __future__ import annotations

import hashlib
from typing import Sequence

LABEL_COORDS = 3  # coordinates named on the replay button
SHORT = 10        # a longer coordinate (a RabbitMQ message's content hash) is named by its first characters


def short(coord: str) -> str:
    return coord if len(coord) <= SHORT else coord[:SHORT - 2] + "…"


def merge(ticked: Sequence[str], shown: Sequence[str], selected_rows: Sequence[int]) -> list[str]:
    """The ticks after the operator's row selection on ``shown`` (coords in row order): ticks of messages not
    shown are kept; those shown are exactly the selected rows. Order: kept ticks first, then rows in order."""
    on_screen = set(shown)
    picked = {shown[i] for i in selected_rows if 0 <= i < len(shown)}
    return [c for c in ticked if c not in on_screen] + [c for c in shown if c in picked]


def rows_of(ticked: Sequence[str], shown: Sequence[str]) -> list[int]:
    """Row positions of the ticked coordinates in ``shown``."""
    want = set(ticked)
    return [i for i, c in enumerate(shown) if c in want]


def table_key(base: str, shown: Sequence[str]) -> str:
    """A widget key that changes whenever the rows change, so a row-number selection never outlives its rows."""
    return f"{base}_{hashlib.sha1(chr(0x1f).join(shown).encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def arrivals(held: Sequence[str], fresh: Sequence[str]) -> int:
    """Messages in a fresh read that the held list does not show."""
    return len(set(fresh) - set(held))


def button_label(ticked: Sequence[str]) -> str:
    """What the replay button will replay, by coordinate: ``Replay 2 selected (0:692, 0:737)…``."""
    if not ticked:
        return "Replay selected… (tick messages in the table)"
    named = ", ".join(short(c) for c in ticked[:LABEL_COORDS]) + (f" +{len(ticked) - LABEL_COORDS} more" if len(ticked) > LABEL_COORDS
                                                  else "")
    return f"Replay {len(ticked)} selected ({named})…"
