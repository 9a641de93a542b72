"""DLQ page against a real RabbitMQ DLQ: escaped payloads, dry-run confirmation, role check, audit."""
from __future__ import annotations

from dlq import api
from store import audit
from store.db import connect_reader
from tests import seed
from tests.ui.conftest import metrics, open_dlq, replay_all, sign_in


def _read(store, fn):
    conn = connect_reader(store)
    try:
        return fn(conn)
    finally:
        conn.close()


def test_browse_shows_payload_and_headers_as_text(seeded, rabbit_dlq):
    at = open_dlq(seeded(), rabbit_dlq)
    assert not at.exception
    table = next(d.value for d in at.dataframe if "coord" in d.value.columns)
    assert len(table) == 3
    assert all(f"queue {rabbit_dlq.removesuffix('.dlq')}" in t for t in table["target"])  # from x-death
    first = table["coord"].iloc[0]  # oldest first: the message with the <script> payload
    at.selectbox(key="dlq_detail").select(first).run()
    assert "<script>alert('xss')</script>" in at.code[0].value  # st.code renders text, never HTML
    headers = next(d.value for d in at.dataframe if "header" in d.value.columns)
    assert seed.SCRIPT_HEADER in headers["value"].tolist()
    assert not at.get("html") and not any("<script>" in m.value for m in at.markdown)


def test_viewer_replay_is_refused_and_audited(seeded, rabbit_dlq):
    at = sign_in(seeded(auth="password"), "vera", seed.USERS["vera"][1])
    at = replay_all(open_dlq(at, rabbit_dlq))
    assert any("needs the operator role" in e.value for e in at.error)
    assert _read(seeded.store, api.list_jobs) == []
    log = _read(seeded.store, audit.read)
    row = log[log["action"] == "dlq.replay.requested"].iloc[0]
    assert (row["actor"], row["outcome"], row["target"]) == ("vera", "refused", f"rabbitmq:{seed.RABBIT}:{rabbit_dlq}")


def test_operator_replay_is_queued_and_audited(seeded, rabbit_dlq):
    at = sign_in(seeded(auth="password"), "otto", seed.USERS["otto"][1])
    at = open_dlq(at, rabbit_dlq)
    at.button(key="replay_all").click().run()
    assert metrics(at)["replay"] == "3"  # the dry run in the dialog: all three go back to the source queue
    at.button(key="replay_confirm").click().run()
    assert not at.exception and not at.error
    jobs = _read(seeded.store, api.list_jobs)
    assert [(j["dlq"], j["actor"], j["state"]) for j in jobs] == [(rabbit_dlq, "otto", "queued")]
    assert any(f"Replay job {jobs[0]['id']} queued" in s.value for s in at.success)
    log = _read(seeded.store, audit.read)
    row = log[log["action"] == "dlq.replay.requested"].iloc[0]
    assert (row["actor"], row["outcome"], row["detail"]["job"]) == ("otto", "queued", jobs[0]["id"])


def test_cancel_closes_the_confirmation_and_queues_nothing(seeded, rabbit_dlq):
    at = open_dlq(seeded(), rabbit_dlq)
    at.button(key="replay_all").click().run()
    assert any(b.key == "replay_confirm" for b in at.button)
    at.button(key="replay_cancel").click().run()
    assert not any(b.key == "replay_confirm" for b in at.button)
    at.run()  # stays closed on the next rerun
    assert not any(b.key == "replay_confirm" for b in at.button)
    assert _read(seeded.store, api.list_jobs) == []


def test_confirm_pins_what_the_dry_run_saw(seeded, rabbit_dlq):
    at = sign_in(seeded(auth="password"), "otto", seed.USERS["otto"][1])
    at = open_dlq(at, rabbit_dlq)
    at.button(key="replay_all").click().run()
    assert any("read all 3 messages" in t.value for t in at.text)  # how far the dry run looked
    dests = next(d.value for d in at.dataframe if "destination" in d.value.columns)
    assert dests["messages"].tolist() == [3]  # counts per destination
    at.button(key="replay_confirm").click().run()
    job = _read(seeded.store, api.list_jobs)[0]
    assert _read(seeded.store, lambda c: api.job(c, job["id"]))["request"]["pin"] == {"count": 3}


def test_viewer_may_not_browse_rabbitmq_dlqs_by_default(seeded, rabbit_dlq):
    at = sign_in(seeded(auth="password"), "vera", seed.USERS["vera"][1])
    at = open_dlq(at, rabbit_dlq)
    assert any("needs the operator role" in i.value and "redelivered" in i.value for i in at.info), \
        [e.value for kind in ("info", "warning", "error") for e in getattr(at, kind)]
    assert not any("coord" in d.value.columns for d in at.dataframe)  # nothing was peeked


def test_viewer_replay_dialog_does_not_peek_the_rabbitmq_dlq(seeded, rabbit_dlq, rabbitmq):
    """The dialog's RabbitMQ dry run is a get + requeue (marks every message redelivered): a viewer, whom
    browse refuses (dlq.rabbit_browse_role: operator), must not get it through the Replay dialog either."""
    import pika

    at = sign_in(seeded(auth="password"), "vera", seed.USERS["vera"][1])
    at = open_dlq(at, rabbit_dlq)
    at.button(key="replay_all").click().run()
    assert any("needs the operator role" in e.value for e in at.error)
    assert "replay" not in metrics(at)  # no dry-run plan shown
    conn = pika.BlockingConnection(pika.URLParameters(rabbitmq.amqp_url))
    try:
        ch = conn.channel()
        seen = []
        while True:
            method, _props, _body = ch.basic_get(rabbit_dlq, auto_ack=False)
            if method is None:
                break
            seen.append(method.redelivered)
        assert seen == [False, False, False]  # nobody got and requeued them
    finally:
        conn.close()  # unacked: back in the queue
