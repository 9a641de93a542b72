"""Ticks follow coordinates (views.ticks): tables of cases and a property over shifting pages."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from views import ticks


@pytest.mark.parametrize("ticked, shown, rows, want", [
    ([], ["0:9", "0:8", "0:7"], [0, 2], ["0:9", "0:7"]),
    (["0:9", "0:7"], ["0:9", "0:8", "0:7"], [0, 2], ["0:9", "0:7"]),        # unchanged
    (["0:9", "0:7"], ["0:9", "0:8", "0:7"], [2], ["0:7"]),                  # unticked one
    (["1:5"], ["0:9", "0:8"], [1], ["1:5", "0:8"]),                         # a tick on another page is kept
    (["0:9"], ["0:9"], [7], []),                                           # a row number past the end: nothing
])
def test_merge(ticked, shown, rows, want):
    assert ticks.merge(ticked, shown, rows) == want


def test_rows_follow_coordinates_when_new_messages_shift_the_page():
    before = ["0:737", "0:736", "0:692"]
    ticked = ticks.merge([], before, [0, 2])
    after = ["0:740", "0:739", "0:737", "0:736", "0:692"]  # three new dead letters, newest first
    assert [after[i] for i in ticks.rows_of(ticked, after)] == ["0:737", "0:692"]
    assert ticks.table_key("t", before) != ticks.table_key("t", after)
    assert ticks.table_key("t", before) == ticks.table_key("t", list(before))
    assert ticks.arrivals(before, after) == 2


def test_button_names_what_it_replays():
    assert ticks.button_label(["0:692", "0:737"]) == "Replay 2 selected (0:692, 0:737)…"
    assert ticks.button_label(["a", "b", "c", "d", "e"]) == "Replay 5 selected (a, b, c +2 more)…"
    assert "tick" in ticks.button_label([])
    assert ticks.button_label(["c0475be0f2dfedcf0a3f7bebacb70566"]) == "Replay 1 selected (c0475be0…)…"


@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=20, unique=True), st.data())
def test_ticks_survive_any_reordering(coords, data):
    rows = data.draw(st.lists(st.integers(0, len(coords) - 1), unique=True))
    ticked = ticks.merge([], coords, rows)
    shuffled = data.draw(st.permutations(coords))
    back = [shuffled[i] for i in ticks.rows_of(ticked, shuffled)]
    assert set(back) == {coords[i] for i in rows}
    # re-selecting exactly those rows on the shuffled page changes nothing
    assert set(ticks.merge(ticked, shuffled, ticks.rows_of(ticked, shuffled))) == set(ticked)
