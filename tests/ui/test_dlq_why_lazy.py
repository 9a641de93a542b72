"""The DLQ page's "Why is it growing?" expander draws its inflow chart and causes only while open: closed (the
default), a page load sends no plotly chart, so the browser neither fetches nor evaluates plotly's bundle."""
from __future__ import annotations

from tests.ui.dlq_page_helpers import _open

WHY_KEY = "dlq_why"  # views.dlq.WHY_KEY (importing a page module runs the page)
CAUSES = "Exception classes and reasons among the"


def test_closed_expander_draws_nothing_then_opening_draws_chart_and_causes(seeded):
    at = _open(seeded)
    assert not at.exception
    assert [e.label for e in at.expander] == ["Why is it growing?"]
    assert at.get("plotly_chart") == []
    assert not any(CAUSES in c.value for c in at.caption)

    at.session_state[WHY_KEY] = True  # the operator opens it (on_change="rerun")
    at.run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1 and "Inflow of" in charts[0].proto.spec
    assert any(CAUSES in c.value for c in at.caption)

    at.session_state[WHY_KEY] = False  # closed again: gone again
    at.run()
    assert at.get("plotly_chart") == [] and not at.exception
