"""Silence matching and validation of new silences."""
from __future__ import annotations

import pytest

from alerts.rules import Matcher, RuleError
from alerts.silences import Silence, alert_labels, silenced_by, validate

NOW = 1_700_000_000_000
LABELS = alert_labels("kafka-group-stalled", "critical", {"team": "pay"}, {"cluster": "a", "group": "orders"})


def silence(sid, matchers, start=NOW - 1_000, end=NOW + 60_000, expired=None):
    return Silence(sid, tuple(matchers), start, end, "ann", "maintenance", expired)


@pytest.mark.parametrize("s,muted,why", [
    (silence(1, [Matcher(label="group", value="orders")]), True, "matches a group label"),
    (silence(2, [Matcher(label="alertname", value="kafka-group-stalled")]), True, "matches the rule name"),
    (silence(3, [Matcher(label="team", op="glob", value="p*")]), True, "matches a rule label by glob"),
    (silence(4, [Matcher(label="group", value="orders"), Matcher(label="cluster", value="b")]), False,
     "every matcher must match"),
    (silence(5, [Matcher(label="group", value="orders")], start=NOW + 1), False, "not started yet"),
    (silence(6, [Matcher(label="group", value="orders")], end=NOW), False, "end is exclusive"),
    (silence(7, [Matcher(label="group", value="orders")], expired=NOW - 1), False, "expired early"),
    (silence(8, [Matcher(label="severity", op="regex", value="crit.*")]), True, "severity is matchable"),
])
def test_silence_table(s, muted, why):
    assert (silenced_by(LABELS, [s], NOW) == [s.id]) is muted, why


@pytest.mark.parametrize("matchers,start,end,actor,reason,field,why", [
    ({}, NOW, NOW + 1, "ann", "x", "matchers", "a silence needs a matcher"),
    ({"group": {"regex": "a(("}}, NOW, NOW + 1, "ann", "x", "matchers.group", "bad regex named"),
    ({"group": {"glob": "*"}}, NOW, NOW + 1, "ann", "x", "matchers", "a match-everything silence is refused"),
    ({"group": "g"}, NOW, NOW, "ann", "x", "end_ms", "an empty window"),
    ({"group": "g"}, NOW, NOW + 1, " ", "x", "actor", "who is required"),
    ({"group": "g"}, NOW, NOW + 1, "ann", "", "reason", "why is required"),
])
def test_bad_silence_names_field(matchers, start, end, actor, reason, field, why):
    with pytest.raises(RuleError) as err:
        validate(matchers, start, end, actor, reason)
    assert err.value.field == field, why


def test_validate_accepts_list_form():
    got = validate([{"label": "group", "op": "glob", "value": "ord*"}], NOW, NOW + 1, "ann", "deploy")
    assert got == (Matcher(label="group", op="glob", value="ord*"),)


@pytest.mark.parametrize("text, hours", [("30m", 0.5), ("2h", 2.0), ("1d", 24.0), ("1.5", 1.5), (" 45 min ", 0.75),
                                         ("2H", 2.0)])
def test_duration_hours(text, hours):
    from alerts.silences import duration_hours
    assert duration_hours(text) == pytest.approx(hours)


@pytest.mark.parametrize("text", ["", "soon", "-2h", "2w", "1e400h", "2" * 40, None])
def test_duration_hours_refused(text):
    from alerts.rules import RuleError
    from alerts.silences import duration_hours
    with pytest.raises(RuleError, match="duration"):
        duration_hours(text)


def test_matching_previews_which_alerts_a_silence_mutes():
    from alerts.rules import parse_matchers
    from alerts.silences import matching
    alerts = [{"alertname": "a", "group": "g1"}, {"alertname": "a", "group": "g2"}, {"alertname": "b"}]
    assert matching(parse_matchers({"alertname": "a"}, "m"), alerts) == [0, 1]
    assert matching(parse_matchers({"group": {"glob": "g*"}, "alertname": "a"}, "m"), alerts) == [0, 1]
    assert matching(parse_matchers({"group": "g2"}, "m"), alerts) == [1]


@pytest.mark.parametrize("matchers, refused", [
    ({"no_such_label": ""}, True),                       # an absent label matches "": every alert
    ({"alertname": {"regex": ".+"}}, True),              # every alert has a name
    ({"severity": {"glob": "*?"}}, True),
    ({"alertname": {"regex": "[^\\n]*"}}, True),
    ({"cluster": {"regex": ".*"}, "alertname": {"regex": ".+"}}, True),
    ({"alertname": {"regex": "lag.*"}}, False),          # a real selection
    ({"severity": "critical"}, False),
    ({"cluster": {"regex": ".+"}}, False),               # alerts without a cluster stay unmuted
    ({"no_such_label": "", "group": "orders"}, False),   # one positive matcher is enough
])
def test_silence_that_would_mute_every_alert_is_refused(matchers, refused):
    if refused:
        with pytest.raises(RuleError, match="would silence every alert"):
            validate(matchers, NOW, NOW + 1, "ann", "x")
    else:
        assert validate(matchers, NOW, NOW + 1, "ann", "x")
