"""The evaluator decides every rule, then writes every plan in one transaction, each rule in a savepoint: an
inhibition source decided in this evaluation counts for the rules after it (nothing is written yet), and a rule
whose writes the store refuses is rolled back alone. Both store backends."""
from __future__ import annotations

import pytest

from alerts import api, inhibit
from alerts.evaluator import Options, evaluate
from store import alerts as store_alerts
from store.db import open_migrated
from store.dialect import is_pg
from store.types import Sample
from store.writes import SampleWriter

T0 = 1_800_000_000_000
S = 1_000
INHIBIT = inhibit.rules_from([{"name": "src-inhibits-tgt", "source_matchers": {"alertname": "zz-src"},
                               "target_matchers": {"alertname": "tgt"}, "equal": ["cluster"]}])
OPTS = Options(repeat_interval_s=3600, targets={"warning": ["ALERT_TEST_URL"]}, inhibit_rules=INHIBIT)


@pytest.fixture
def conn(any_store):
    c = open_migrated(any_store)
    yield c
    c.close()


def lag(conn, ts, c1: float, c2: float) -> None:
    SampleWriter(conn).write([Sample("kafka_group_total_lag_messages", {"cluster": "c1", "group": "g"}, ts, c1),
                              Sample("kafka_group_total_lag_messages", {"cluster": "c2", "group": "g"}, ts, c2)])


def sent(conn) -> list[str]:
    return sorted(r["title"].split(" (")[0] + " " + r["title"].split(") ")[1] for r in store_alerts.read_outbox(conn))


def test_a_source_firing_in_this_evaluation_inhibits_its_targets_in_it(conn):
    # "zz-src" sorts after "tgt": only the evaluator's order (sources first) and the decided plan make it count
    api.save_rule(conn, {"name": "zz-src", "metric": "kafka_group_status", "comparison": ">=", "threshold": 4,
                         "for_s": 0}, "ann", T0)
    api.save_rule(conn, {"name": "tgt", "metric": "kafka_group_total_lag_messages", "comparison": ">",
                         "threshold": 100, "for_s": 0}, "ann", T0)
    SampleWriter(conn).write([Sample("kafka_group_status", {"cluster": "c1", "group": "g"}, T0, 4.0)])
    lag(conn, T0, 500, 500)
    res = evaluate(conn, T0, OPTS)
    assert res.errors == []
    st = {(r["rule"], r["labels"]["cluster"]): (r["state"], r["inhibited_by"]) for r in store_alerts.read_states(conn)}
    assert st == {("zz-src", "c1"): ("firing", None), ("tgt", "c1"): ("firing", ["src-inhibits-tgt"]),
                  ("tgt", "c2"): ("firing", None)}
    assert sent(conn) == ["[FIRING] tgt cluster=c2, group=g", "[FIRING] zz-src cluster=c1, group=g"]
    # the source resolves: in the same evaluation its target is no longer inhibited and is announced
    SampleWriter(conn).write([Sample("kafka_group_status", {"cluster": "c1", "group": "g"}, T0 + 15 * S, 0.0)])
    lag(conn, T0 + 15 * S, 500, 500)
    res = evaluate(conn, T0 + 15 * S, OPTS)
    assert [(e["rule"], e["event"]) for e in res.events] == [("zz-src", "resolved"), ("tgt", "unmuted")]
    assert "[FIRING] tgt cluster=c1, group=g" in sent(conn)
    assert store_alerts.read_states(conn, "tgt")[0]["inhibited_by"] is None


def _refuse_rule_bad(conn) -> None:
    """A store that refuses state rows of the rule named 'bad' (a real refusal, as a full disk or a broken
    constraint would be)."""
    if is_pg(conn):
        conn.execute("CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "IF NEW.rule = 'bad' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$")
        conn.execute("CREATE TRIGGER refuse_bad BEFORE INSERT ON alert_state FOR EACH ROW "
                     "EXECUTE FUNCTION refuse_bad()")
    else:
        conn.execute("CREATE TRIGGER refuse_bad BEFORE INSERT ON alert_state WHEN NEW.rule = 'bad' "
                     "BEGIN SELECT RAISE(ABORT, 'refused'); END")


def test_a_rule_whose_writes_fail_is_rolled_back_alone(conn):
    for name in ("bad", "good"):
        api.save_rule(conn, {"name": name, "metric": "kafka_group_total_lag_messages", "comparison": ">",
                             "threshold": 100, "for_s": 0}, "ann", T0)
    _refuse_rule_bad(conn)
    lag(conn, T0, 500, 10)
    res = evaluate(conn, T0, OPTS)
    assert len(res.errors) == 1 and res.errors[0].startswith("rule bad:") and "refused" in res.errors[0]
    assert res.rules == 1  # good only (no built-ins seeded here): bad is reported, not counted
    assert [(e["rule"], e["event"]) for e in res.events] == [("good", "firing")]
    assert [r["rule"] for r in store_alerts.read_states(conn)] == ["good"]
    assert {t["rule"] for t in store_alerts.read_transitions(conn)} == {"good"}  # bad's firing went with it
    assert sent(conn) == ["[FIRING] good cluster=c1, group=g"]
    conn.execute("DROP TRIGGER refuse_bad" + (" ON alert_state" if is_pg(conn) else ""))
    res = evaluate(conn, T0 + 15 * S, OPTS)  # the store takes it again: bad fires now, good stays firing
    assert res.errors == [] and [(e["rule"], e["event"]) for e in res.events] == [("bad", "firing")]
    assert sent(conn) == ["[FIRING] bad cluster=c1, group=g", "[FIRING] good cluster=c1, group=g"]
