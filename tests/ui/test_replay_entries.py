"""One way to replay (AppTest, real RabbitMQ DLQ, both store backends): the ticked messages, the time window and
the filters open the same dialog, which shows target override, rate, window and force before Confirm; no
selection is preselected; the job carries exactly the options the dialog showed."""
from __future__ import annotations

from core import links
from dlq import api
from store.db import connect_reader
from tests.ui.conftest import table_with
from tests.ui.test_dlq_deeplink_edit import _label, _open, _select_rows, metrics_of

OPTIONS = ("replay_target", "replay_rate", "replay_window", "replay_force")


def _jobs(store):
    conn = connect_reader(store)
    try:
        return [api.job(conn, j["id"]) for j in api.list_jobs(conn)]
    finally:
        conn.close()


def _dialog_options(at) -> set[str]:
    keys = {w.key for kind in ("text_input", "number_input", "checkbox") for w in getattr(at, kind)}
    return {k for k in OPTIONS if k in keys}


def test_nothing_is_preselected(seeded, rabbit_dlq):
    at = _open(seeded, **{links.DLQ: _label(rabbit_dlq)})
    assert not any(r.key == "replay_mode" for r in at.radio)  # no "all" radio
    assert not any(w.key == "replay_confirm" for w in at.button)  # no dialog until an entry is pressed
    assert at.button(key="replay_selected").disabled  # nothing ticked
    assert at.button(key="replay_filtered").disabled  # no filter set
    assert not _dialog_options(at)  # the options live in the dialog only


def test_each_entry_opens_the_same_dialog_with_its_selection(seeded, rabbit_dlq):
    at = _open(seeded, **{links.DLQ: _label(rabbit_dlq), links.DLQ_REASON: "rejected"})
    seen = {}
    coords = table_with(at, "coord")["coord"].tolist()
    for entry in ("replay_filtered", "replay_window_open", "replay_selected", "replay_all"):
        if entry == "replay_selected":
            at = _select_rows(at, [0])
        at.button(key=entry).click().run()
        assert not at.exception
        assert _dialog_options(at) == set(OPTIONS), entry  # target, rate, window, force: every entry
        seen[entry] = (at.session_state["replay_entry"]["selection"], metrics_of(at)["replay"])
        at.button(key="replay_cancel").click().run()
    assert seen["replay_filtered"] == ({"mode": "filter", "reason": "rejected"}, "3")
    assert seen["replay_window_open"] == ({"mode": "filter", "reason": "rejected"}, "3")  # + the range toggle on
    assert seen["replay_selected"] == ({"mode": "picked", "coords": [coords[0]]}, "1")
    assert seen["replay_all"] == ({"mode": "all"}, "3")


def test_the_job_carries_the_dialog_options(seeded, rabbit_dlq):
    at = _open(seeded, **{links.DLQ: _label(rabbit_dlq), links.DLQ_REASON: "rejected"})
    at.button(key="replay_filtered").click().run()
    assert not at.toggle(key="replay_in_range").value  # the filters entry: no time range unless asked
    at.number_input(key="replay_rate").set_value(7.0).run()
    at.number_input(key="replay_window").set_value(1).run()
    at.toggle(key="replay_in_range").set_value(True).run()
    assert any("reason contains 'rejected' dead-lettered" in t.value for t in at.text)
    at.button(key="replay_confirm").click().run()
    assert not at.exception and not at.error
    [job] = _jobs(seeded.store)
    req = job["request"]
    assert (req["rate_per_s"], req["window"], req["force"]) == (7.0, 1, False)
    assert req["selection"]["reason"] == "rejected" and req["selection"]["to_ms"] > req["selection"]["from_ms"]
    at.button(key="replay_all").click().run()  # a new dialog starts from the defaults again
    assert at.number_input(key="replay_rate").value != 7.0 and not at.toggle(key="replay_in_range").value


def test_the_page_is_split_into_tabs_that_a_link_opens(seeded, rabbit_dlq):
    from tests.ui.test_dlq_deeplink_edit import _open as open_link
    at = open_link(seeded, **{links.DLQ: _label(rabbit_dlq), "dlq_tab": "Audit"})
    assert not at.exception
    heads = [h.value for h in at.subheader]
    assert "Audit" in heads and not any(h.startswith("Messages in") for h in heads)  # only the open tab ran
    assert not any("coord" in d.value.columns for d in at.dataframe)  # the DLQ was not browsed for it
    at.query_params["dlq_tab"] = "Replay jobs"  # the link's tab (a click sets it too)
    at.run()
    assert "Replay jobs" in [h.value for h in at.subheader] and "Audit" not in [h.value for h in at.subheader]
