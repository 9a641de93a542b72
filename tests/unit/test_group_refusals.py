"""Role x action matrix of the group actions and replay on both store backends: a viewer and a read-only
cluster are refused before any broker is contacted (the cluster's bootstrap is unreachable on purpose), each
refusal is one audit row with outcome 'refused'; a replay job on a read-only cluster fails, changing nothing."""
from __future__ import annotations

import pytest

from config import Settings
from dlq import group_actions, guards
from dlq import skip_plan as sp
from dlq.jobs import execute
from store import audit
from store import dlq as store_dlq

ACTIONS = ("skip", "reset")


def _settings(location, read_only: bool) -> Settings:
    return Settings.model_validate({"store": {"path": str(location)}, "kafka": {"clusters": [
        {"name": "k", "bootstrap_servers": ["127.0.0.1:9"], "read_only": read_only, "dlq_export": not read_only}]}})


def _act(action: str, settings: Settings, conn, role: str, dry_run: bool = False):
    if action == "skip":
        return group_actions.skip(settings, conn, "k", "g", "t", 0, reason="r", actor="vera", role=role,
                                  dry_run=dry_run)
    return group_actions.reset(settings, conn, "k", "g", sp.ResetSpec("earliest"), topic="t", actor="vera",
                               role=role, dry_run=dry_run)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role,read_only,why", [("viewer", False, "operator role"), ("operator", True, "read-only"),
                                                ("viewer", True, "operator role")])
def test_refused_and_audited(store, action, role, read_only, why):
    w, r = store
    settings = _settings("unused", read_only)
    with pytest.raises(sp.Refused, match=why):
        _act(action, settings, w, role)
    with pytest.raises(sp.Refused, match=why):  # a dry run is refused too, and not audited
        _act(action, settings, None, role, dry_run=True)
    rows = audit.read(r, limit=10)
    assert rows[["actor", "action", "target", "outcome"]].values.tolist() == \
        [["vera", f"kafka.group.{action}", "kafka:k:g", "refused"]]


def test_guards_name_the_key():
    s = _settings("unused", True)
    assert "kafka.clusters[k].read_only" in guards.read_only_refusal(s, "kafka", "k", "replay")
    assert "kafka.clusters[k].dlq_export" in guards.export_refusal(s, "kafka", "k")
    open_ = _settings("unused", False)
    assert guards.read_only_refusal(open_, "kafka", "k", "replay") is None
    assert guards.export_refusal(open_, "kafka", "k") is None


def test_replay_job_on_read_only_cluster_fails_without_touching_the_broker(store):
    w, r = store
    req = {"broker": "kafka", "cluster": "k", "dlq": "t.DLT", "selection": {"mode": "all"}, "target": None,
           "force": False}
    job_id = store_dlq.create_job(w, "kafka", "k", "t.DLT", req, "ann", 1_000)
    job = store_dlq.claim(w, "test:1", 2_000, 30_000, lambda _o: True, job_id)
    assert execute(w, _settings("unused", True), job) == "failed"
    done = store_dlq.get_job(r, job_id)
    assert "read-only" in done["error"] and done["replayed"] == 0
    assert audit.read(r, limit=5)["outcome"].tolist()[0] == "failed"
