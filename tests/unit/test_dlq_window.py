"""Pure parts of the windowed RabbitMQ replay: ack planning, the `window` request key, batch audit."""
from __future__ import annotations

import pytest

from dlq import plan
from dlq.context import batch_audit, worst_outcome


@pytest.mark.parametrize("open_tags, ack, first_held, want", [
    ([1, 2, 3], {1, 2, 3}, None, (3, [])),  # contiguous: one multiple ack
    ([1, 2, 3, 4], {1, 2, 4}, None, (2, [4])),  # 3 still in flight: the run stops before it
    ([1, 2, 3], {2, 3}, None, (None, [2, 3])),  # 1 still in flight: no multiple ack at all
    ([1], {1}, None, (None, [1])),  # a single tag is acked alone
    ([2, 4, 5, 6], {2, 4, 5, 6}, 3, (None, [2, 4, 5, 6])),  # 3 stays: never cross it
    ([4, 5, 6], {4, 5, 6}, 9, (6, [])),  # the held copy is beyond the run
    ([4, 6, 7], {4, 6, 7}, 5, (None, [4, 6, 7])),
    ([3, 4, 6, 7], {3, 4, 6, 7}, 5, (4, [6, 7])),
    ([], set(), None, (None, [])),
])
def test_ack_plan(open_tags, ack, first_held, want):
    multiple, singles = plan.ack_plan(open_tags, ack, first_held)
    assert (multiple, singles) == want
    covered = {t for t in open_tags if multiple is not None and t <= multiple}
    assert covered | set(singles) == ack and not covered & set(singles)  # each acked exactly once
    assert first_held is None or multiple is None or multiple < first_held  # a copy that stays is never acked


BASE = {"broker": "rabbitmq", "cluster": "r", "dlq": "q.dlq"}


@pytest.mark.parametrize("window", [1, 256, plan.MAX_WINDOW])
def test_window_accepted(window):
    assert plan.validate_request({**BASE, "window": window})["window"] == window


@pytest.mark.parametrize("window", [0, -1, plan.MAX_WINDOW + 1, 2.5, "256", True])
def test_window_refused_naming_the_key(window):
    with pytest.raises(plan.RequestError, match="^window:"):
        plan.validate_request({**BASE, "window": window})


def test_window_left_out_stays_out():
    assert "window" not in plan.validate_request(BASE)


def test_batch_audit_names_every_message_once():
    outs = [{"replay_id": "r1", "coord": "c1", "outcome": "replayed", "target": "queue a", "detail": "to a"},
            {"replay_id": "r2", "coord": "c2", "outcome": "failed", "target": "queue a", "detail": "nacked"},
            {"replay_id": "r3", "coord": "c3", "outcome": "skipped", "target": None, "detail": "already replayed"}]
    d = batch_audit(7, outs)
    assert d["job"] == 7 and d["counts"] == {"replayed": 1, "parked": 0, "skipped": 1, "failed": 1}
    assert d["targets"] == ["queue a", None]
    assert [m[:3] for m in d["messages"]] == [["c1", "replayed", 0], ["c2", "failed", 0], ["c3", "skipped", 1]]
    assert d["details"] == {"c2": "nacked", "c3": "already replayed"}
    assert worst_outcome(outs) == "failed" and worst_outcome(outs[:1]) == "replayed"
