"""The alert state machine as a table: {no incident, pending, firing} × {below, above, no data} × for."""
from __future__ import annotations

import pytest

from alerts.state import AlertState, step

T0 = 1_700_000_000_000
NOW = T0 + 90_000  # 90 s after the incident (pending/firing) started
REPEAT = 3_600_000

INACTIVE = AlertState()
RESOLVED = AlertState("resolved", T0 - 10_000, T0 - 5_000, T0 - 5_000, T0 - 1_000)
PENDING = AlertState("pending", T0)
FIRING = AlertState("firing", T0 - 60_000, T0, T0)
ABOVE, BELOW, NODATA = (True, 5.0), (False, 1.0), (None, None)

CASES = [
    # prev, observed, for_ms, expected state, expected events, why
    (INACTIVE, BELOW, 60_000, "inactive", [], "nothing happens while the condition is false"),
    (INACTIVE, ABOVE, 60_000, "pending", ["pending"], "a breach first waits out the for duration"),
    (INACTIVE, ABOVE, 0, "firing", ["firing"], "for 0 fires on the first breach, notifying"),
    (INACTIVE, NODATA, 60_000, "inactive", [], "no data with no incident is no event"),
    (RESOLVED, ABOVE, 60_000, "pending", ["pending"], "a new incident after a resolved one starts over"),
    (RESOLVED, BELOW, 60_000, "resolved", [], "resolved stays resolved while below: one resolved notice only"),
    (PENDING, ABOVE, 60_000, "firing", ["firing"], "90 s >= for 60 s: fires"),
    (PENDING, ABOVE, 120_000, "pending", [], "90 s < for 120 s: not yet"),
    (PENDING, ABOVE, 90_000, "firing", ["firing"], "exactly the for duration fires (>=)"),
    (PENDING, BELOW, 60_000, "inactive", ["cancelled"], "cleared before for elapsed: cancelled, never notified"),
    (PENDING, NODATA, 60_000, "pending", ["nodata"], "no data holds pending (keep) and does not fire"),
    (FIRING, ABOVE, 60_000, "firing", [], "still firing inside the repeat interval: no re-send"),
    (FIRING, BELOW, 60_000, "resolved", ["resolved"], "cleared: resolved, notified once"),
    (FIRING, NODATA, 60_000, "firing", ["nodata"], "a vanished series is no data, not resolved-by-zero"),
    (FIRING, NODATA, 0, "firing", ["nodata"], "for 0 changes nothing about no data"),
]


@pytest.mark.parametrize("prev,observed,for_ms,state,events,why", CASES, ids=[c[-1] for c in CASES])
def test_step_table(prev, observed, for_ms, state, events, why):
    breach, value = observed
    new, evs = step(prev, breach, value, for_ms=for_ms, repeat_ms=REPEAT, no_data="keep", now_ms=NOW)
    assert new.state == state, why
    assert [e.kind for e in evs] == events, why


def test_repeat_interval_honoured():
    """A firing alert re-notifies once the repeat interval has passed since the last notification."""
    new, evs = step(FIRING, True, 9.0, for_ms=0, repeat_ms=60_000, no_data="keep", now_ms=T0 + 60_000)
    assert [e.kind for e in evs] == ["repeat"] and evs[0].notify
    assert new.last_notified_ms == T0 + 60_000 and new.fired_at_ms == T0
    again, evs2 = step(new, True, 9.0, for_ms=0, repeat_ms=60_000, no_data="keep", now_ms=T0 + 90_000)
    assert evs2 == [] and again.last_notified_ms == T0 + 60_000


@pytest.mark.parametrize("policy,prev,state,events,why", [
    ("ok", FIRING, "resolved", ["resolved"], "no_data=ok: a vanished series counts as below"),
    ("ok", PENDING, "inactive", ["cancelled"], "no_data=ok cancels a pending alert"),
    ("alerting", INACTIVE, "pending", ["pending"], "no_data=alerting: silence of a series is a breach"),
    ("alerting", PENDING, "firing", ["firing"], "no_data=alerting fires after for"),
    ("keep", AlertState("firing", T0, T0, T0, None, T0 + 1), "firing", [],
     "keep: the nodata event is recorded once, not every evaluation"),
])
def test_no_data_policies(policy, prev, state, events, why):
    new, evs = step(prev, None, None, for_ms=60_000, repeat_ms=REPEAT, no_data=policy, now_ms=NOW)
    assert new.state == state, why
    assert [e.kind for e in evs] == events, why
    assert new.nodata_since_ms is not None and new.value is None


def test_data_back_clears_nodata_and_keeps_incident_start():
    held, _ = step(PENDING, None, None, for_ms=60_000, repeat_ms=REPEAT, no_data="keep", now_ms=T0 + 30_000)
    back, evs = step(held, True, 7.0, for_ms=60_000, repeat_ms=REPEAT, no_data="keep", now_ms=NOW)
    assert back.nodata_since_ms is None and back.value == 7.0
    assert back.state == "firing" and back.active_since_ms == T0 and [e.kind for e in evs] == ["firing"]


def test_firing_no_repeat_while_no_data():
    """Under keep, a firing alert without data is held without repeats (it cannot be re-confirmed)."""
    new, evs = step(FIRING, None, None, for_ms=0, repeat_ms=1, no_data="keep", now_ms=T0 + 10 * REPEAT)
    assert new.last_notified_ms == T0 and [e.kind for e in evs] == ["nodata"] and not evs[0].notify


@pytest.mark.parametrize("for_ms,repeat_ms", [(-1, REPEAT), (0, 0)])
def test_bad_durations_refused(for_ms, repeat_ms):
    with pytest.raises(ValueError, match="for_ms"):
        step(INACTIVE, True, 1.0, for_ms=for_ms, repeat_ms=repeat_ms, no_data="keep", now_ms=NOW)
