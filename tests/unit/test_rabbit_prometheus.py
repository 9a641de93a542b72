"""The rabbitmq_prometheus per-queue decoder: a table of lines, and properties (round trip of any names,
never an exception, one bad line costs only itself)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.rabbit_prometheus import FIELDS, MAX_COUNT, merge, parse

READY = "rabbitmq_detailed_queue_messages_ready"
CONSUMERS = "rabbitmq_detailed_queue_consumers"


def esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(queues: dict[tuple[str, str], dict[str, int]]) -> str:
    by_field = {v: k for k, v in FIELDS.items()}
    lines = []
    for metric_field in FIELDS.values():
        lines.append(f"# TYPE {by_field[metric_field]} gauge")
        for (vhost, name), figures in queues.items():
            if metric_field in figures:
                lines.append(f'{by_field[metric_field]}{{vhost="{esc(vhost)}",queue="{esc(name)}"}} '
                             f"{figures[metric_field]}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("line, queue, reason", [
    (f'{READY}{{vhost="/",queue="a"}} 3', ("/", "a", "messages_ready", 3.0), None),
    (f'{READY}{{vhost="/",queue="a"}} 3 1700000000000', ("/", "a", "messages_ready", 3.0), None),  # timestamp
    (f'{READY}{{queue="a",vhost="/"}} 3', ("/", "a", "messages_ready", 3.0), None),  # other label order
    (f'{READY}{{vhost="/",queue="a\\"b\\\\c\\nd"}} 1', ("/", 'a"b\\c\nd', "messages_ready", 1.0), None),
    (f'{READY}{{vhost="/",queue="a",node="x"}} 2', ("/", "a", "messages_ready", 2.0), None),  # extra label
    (f'{READY}{{vhost="/",queue="a"}} 2.0', ("/", "a", "messages_ready", 2.0), None),
    (f'{READY}{{vhost="/",queue="a"}} 3\r', ("/", "a", "messages_ready", 3.0), None),  # CRLF
    (f'{CONSUMERS}{{vhost="v",queue="a"}} 0', ("v", "a", "consumers", 0.0), None),
    (f'{READY}{{vhost="/",queue="a"}} NaN', None, "bad_value"),
    (f'{READY}{{vhost="/",queue="a"}} +Inf', None, "bad_value"),
    (f'{READY}{{vhost="/",queue="a"}} -1', None, "bad_value"),
    (f'{READY}{{vhost="/",queue="a"}} 1.5', None, "bad_value"),
    (f'{READY}{{vhost="/",queue="a"}} {MAX_COUNT + 2}', None, "bad_value"),
    (f'{READY}{{vhost="/",queue="a"}} 1e400', None, "bad_value"),
    (f'{READY}{{vhost="/",queue="a"}}', None, "bad_value"),
    (f'{READY}{{vhost="/",queue="a"}} 1 2 3', None, "bad_value"),
    (f'{READY}{{vhost="/",queue="a"', None, "bad_line"),
    (f'{READY}{{vhost="/",queue="a\\x"}} 1', None, "bad_escape"),
    (f'{READY}{{vhost="/",queue=a}} 1', None, "bad_label"),
    (f'{READY}{{vhost="/",vhost="x",queue="a"}} 1', None, "bad_label"),
    (f'{READY}{{vhost="/"}} 1', None, "no_labels"),
    (f"{READY} 1", None, "no_labels"),
    (f'{READY}{{vhost="/",queue="{"q" * 257}"}} 1', None, "too_long"),
    ('rabbitmq_detailed_queue_process_reductions_total{vhost="/",queue="a"} 9', None, None),  # not ours
    ('rabbitmq_detailed_queue_messages_bytes{vhost="/",queue="a"} 9', None, None),
    (f"# HELP {READY} Messages ready", None, None),
    ("", None, None),
])
def test_lines(line, queue, reason):
    got = parse(line + "\n")
    if queue is None:
        assert got.queues == {}
    else:
        vhost, name, fld, value = queue
        assert got.queues == {(vhost, name): {fld: value}}
    assert [r for r, _ in got.rejects] == ([reason] if reason else [])


def test_a_queue_twice_keeps_the_first_and_counts_the_second():
    got = parse(f'{READY}{{vhost="/",queue="a"}} 1\n{READY}{{vhost="/",queue="a"}} 2\n')
    assert got.queues == {("/", "a"): {"messages_ready": 1.0}}
    assert [r for r, _ in got.rejects] == ["duplicate"]


def test_merge_of_nodes():
    one = parse(render({("/", "a"): {"messages": 1}, ("/", "b"): {"messages": 2}}))
    two = parse(render({("/", "c"): {"messages": 3}, ("/", "a"): {"messages": 9}}))
    got = merge([one, two])
    assert got.queues == {("/", "a"): {"messages": 1.0}, ("/", "b"): {"messages": 2.0}, ("/", "c"): {"messages": 3.0}}
    assert [r for r, _ in got.rejects] == ["duplicate"]


names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
counts = st.integers(0, MAX_COUNT)
figures = st.fixed_dictionaries({}, optional={f: counts for f in FIELDS.values()}).filter(bool)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.tuples(names, names), figures, max_size=20))
def test_round_trip_of_any_names_and_counts(queues):
    got = parse(render(queues))
    assert got.rejects == []
    assert got.queues == {k: {f: float(v) for f, v in fig.items()} for k, fig in queues.items()}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_is_decoded_or_rejected_never_raised(text):
    got = parse(text)
    for (vhost, name), fig in got.queues.items():
        assert len(vhost) <= 256 and len(name) <= 256
        assert all(0 <= v <= MAX_COUNT for v in fig.values())


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.tuples(names, names), figures, min_size=1, max_size=10),
       st.text(max_size=80).map(lambda t: READY + t.replace("\n", " ")), st.integers(0, 40))
def test_one_bad_line_costs_only_itself(queues, junk, at):
    lines = render(queues).split("\n")
    lines.insert(at % len(lines), junk)
    got = parse("\n".join(lines))
    assert len(got.rejects) <= 1
    good = parse(render(queues)).queues
    # every queue keeps its figures, but the one the junk line may name (decoded before its true line)
    changed = [k for k, fig in good.items() if got.queues.get(k) != fig
               and not (got.queues.get(k, {}).items() >= fig.items())]
    assert len(changed) <= 1
    if got.rejects == [] or got.rejects[0][0] != "duplicate":
        assert all(got.queues.get(k, {}).items() >= fig.items() for k, fig in good.items())
