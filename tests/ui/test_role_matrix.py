"""Role x action x auth mode: every mutating action is refused for viewers (checked on the server side and
audited with outcome 'refused') and unreachable for signed-out users (only the sign-in form renders)."""
from __future__ import annotations

import time

import pytest

from dlq import api as dlq_api
from store import audit
from store.db import connect_reader, open_migrated
from tests import seed
from tests.ui.conftest import open_dlq, open_tab, sign_in
from views.registry import PAGES

MUTATING = ("alert_rule.save", "alert_rule.delete", "alert_silence.add", "alert_silence.expire",
            "dlq.replay.requested", "dlq.replay.cancel")


def _log(store):
    conn = connect_reader(store)
    try:
        return audit.read(conn, limit=1000)
    finally:
        conn.close()


def _viewer(seeded, monkeypatch, mode: str):
    """A viewer session of ``mode``: auth none with anonymous_role viewer, a password viewer, an OIDC viewer."""
    if mode == "none":
        monkeypatch.setenv("EVENTDECK_DASHBOARD__ANONYMOUS_ROLE", "viewer")
        return seeded(), "local"
    if mode == "password":
        return sign_in(seeded(auth="password"), "vera", seed.USERS["vera"][1]), "vera"
    monkeypatch.setenv("EVENTDECK_DASHBOARD__OIDC__ALLOWED_DOMAINS", '["example.com"]')
    at = seeded(auth="oidc")
    at.user = {"is_logged_in": True, "email": "dev@example.com", "email_verified": True, "sub": "dev"}
    return at.run(), "dev@example.com"


def _alerts(at):
    return at.switch_page("views/alerts.py").run()


def _do(at, action: str, dlq: str):
    """Drive ``action`` through the page as a user would."""
    if action == "alert_rule.save":
        at = _alerts(at)
        at.text_input(key="rule_name").input("matrix-rule")
        next(b for b in at.button if b.label == "Save rule").click()
    elif action == "alert_rule.delete":
        at = _alerts(at)
        box = at.selectbox(key="rule_pick")
        box.select(next(o for o in box.options if o != "(new rule)")).run()
        at.button(key="rule_delete").click()
    elif action == "alert_silence.add":
        at = _alerts(at)
        next(t for t in at.text_area if t.label.startswith("Matchers")).input("cluster: x")
        next(b for b in at.button if b.label == "Add silence").click()
    elif action == "alert_silence.expire":
        at = _alerts(at)
        at.button(key="silence_expire").click()
    elif action == "dlq.replay.requested":
        at = open_dlq(at, dlq)
        at.button(key="replay_all").click().run()
        at.button(key="replay_confirm").click()
    elif action == "dlq.replay.cancel":
        at = open_tab(open_dlq(at, dlq), "Replay jobs")
        at.button(key="job_cancel").click()
    return at.run()


@pytest.mark.parametrize("mode", ["none", "password", "oidc"])
def test_viewer_is_refused_every_mutating_action_and_it_is_audited(seeded, rabbit_dlq, monkeypatch, mode):
    at, actor = _viewer(seeded, monkeypatch, mode)
    job = None
    for action in MUTATING:
        if action == "dlq.replay.cancel":  # an operator's queued job, for the viewer to try to cancel
            conn = open_migrated(seeded.store)
            job = dlq_api.enqueue_replay(conn, {"broker": "rabbitmq", "cluster": seed.RABBIT, "dlq": rabbit_dlq},
                                         "otto", int(time.time() * 1000))
            conn.close()
        at = _do(at, action, rabbit_dlq)
        assert not at.exception, action
        assert any("needs the operator role" in e.value for e in at.error), (mode, action)
    log = _log(seeded.store)
    mine = log[(log["actor"] == actor) & ~log["action"].str.startswith("auth.")]
    refused = [(r.actor, r.action, r.outcome) for r in mine.sort_values("id").itertuples()]
    assert refused == [(actor, a, "refused") for a in MUTATING], (mode, refused)
    conn = connect_reader(seeded.store)
    try:
        assert [(j["id"], j["state"]) for j in dlq_api.list_jobs(conn)] == [(job, "queued")]  # nothing changed
    finally:
        conn.close()


@pytest.mark.parametrize("mode", ["password", "oidc"])
def test_signed_out_users_reach_no_page_and_no_action(seeded, mode):
    at = seeded(auth=mode)
    before = len(_log(seeded.store))
    for page in PAGES:
        at.switch_page(page.path).run()
        assert not at.exception, page.title
        assert at.title[0].value == "Eventdeck — sign in", page.title
        labels = {b.label for b in at.button}
        assert labels <= {"Sign in"}, (page.title, labels)
        assert not at.dataframe and not at.metric, page.title
    assert len(_log(seeded.store)) == before
