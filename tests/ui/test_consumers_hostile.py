"""Issue #23 on the Consumers page (AppTest): consumer names holding " / ", a lone surrogate, NUL, RTL marks
and Markdown are stored through the one label write path and the page shows them without an exception;
picking "a / b" shows a / b's data, not a's (the picker no longer splits labels on " / ")."""
from __future__ import annotations

from core.clock import now_ms
from store.db import connect_writer
from store.types import Sample
from store.writes import SampleWriter
from tests import seed

HOSTILE = {"a / b": {"Boom": 5.0}, "a": {"Other": 1.0}, "evil\ud800\x00": {"E\udc00": 2.0},
           "\u202e[x](http://e) <b>": {"Md": 3.0}}


def _add_consumers(store) -> None:
    ts = now_ms()
    samples = []
    for consumer, errors in HOSTILE.items():
        c = {"cluster": seed.KAFKA, "broker": "kafka", "consumer": consumer}
        for q in ("0.5", "0.95", "0.99"):
            samples.append(Sample("consumer_processing_seconds", {**c, "quantile": q}, ts, 0.01))
        samples.append(Sample("consumer_error_rate_ratio", c, ts, 0.1))
        for exc, total in errors.items():
            samples.append(Sample("consumer_errors_total", {**c, "exception": exc}, ts, total))
    conn = connect_writer(store)
    try:
        assert SampleWriter(conn).write(samples) == len(samples)
    finally:
        conn.close()


def test_consumers_page_with_hostile_names_and_the_picker_keeps_labels_whole(seeded):
    _add_consumers(seeded.store)
    at = seeded()
    at.switch_page("views/consumers.py").run()
    assert not at.exception, at.exception
    box = at.selectbox(key="consumer_pick")
    pick = next(o for o in box.options if o.endswith(" / a / b"))
    box.select(pick).run()
    assert not at.exception
    errors = next(d.value for d in at.dataframe if "exception" in d.value.columns)
    assert errors["exception"].tolist() == ["Boom"]  # a / b's, not a's "Other"
    evil = next(o for o in box.options if "evil" in o)
    box.select(evil).run()
    assert not at.exception
    errors = next(d.value for d in at.dataframe if "exception" in d.value.columns)
    assert errors["exception"].tolist() == ["E\ufffd"]
