"""Decoders of hostile input on the fuzz corpus, and what a ReDoS-shaped alert rule costs a tick.

1. For each decoder, a corpus drawn from the fuzz suite's strategies (tests/unit/test_fuzz_decoders.py)
   is decoded; prints inputs rejected per second and inputs decoded per second.
2. A collection tick (sample write + alert evaluation) over ``--series`` lag series, some with long
   ``aaaa…!`` group labels, with and without a rule matching ``group =~ (a+)+$`` (catastrophic for a
   backtracking engine); prints the two times and their ratio (≈ 1 with RE2), and what Python's ``re``
   takes on ONE 25-character value.

``python -m bench.decoders_bench [--corpus N] [--series N] [--ticks N]``
"""
from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from hypothesis import HealthCheck, Phase, given, settings

from alerts import api
from alerts.evaluator import Options, evaluate
from store.db import open_migrated
from store.types import Sample
from store.writes import SampleWriter

T0 = 1_800_000_000_000


def corpus(strategy: Any, n: int) -> list[Any]:
    """``n`` inputs drawn from a hypothesis strategy (generation only, no shrinking, no database)."""
    out: list[Any] = []

    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(x: Any) -> None:
        out.append(x)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        collect()
    return out


def decoders() -> dict[str, tuple[Any, Callable[[Any], Any], type[BaseException]]]:
    """name -> (strategy, decode one input, the declared error type)."""
    from alerts import silences as sil
    from alerts.rules import RuleError, rule_from_dict
    from dlq import headers as hdr
    from dlq.plan import RequestError, validate_request
    from instrument.summary import SummaryError, decode_summary
    from tests.unit import test_fuzz_decoders as fz
    from hypothesis import strategies as st

    return {
        "telemetry summary": (fz.summaries(), decode_summary, SummaryError),
        "kafka DLQ headers": (st.lists(st.tuples(st.one_of(fz.KAFKA_NAMES, st.text(max_size=10)), fz.HEADER_BYTES),
                                       max_size=8), hdr.decode, hdr.HeaderError),
        "rabbitmq headers": (fz.RABBIT_HEADERS, hdr.decode, hdr.HeaderError),
        "replay request": (st.one_of(fz.REQUEST, fz.JSONISH), validate_request, RequestError),
        "alert rule": (st.one_of(fz.RULE, fz.JSONISH), rule_from_dict, RuleError),
        "silence": (st.one_of(st.dictionaries(st.sampled_from(["alertname", "group"]), fz.MATCHER, max_size=3),
                              fz.JSONISH),
                    lambda m: sil.validate(m, 0, 3_600_000, "bench", "bench"), RuleError),
    }


def decoder_rates(n: int) -> list[tuple[str, int, int, float, float]]:
    rows = []
    for name, (strategy, decode, error) in decoders().items():
        inputs = corpus(strategy, n)
        rejected = 0
        t0 = time.perf_counter()
        for x in inputs:
            try:
                decode(x)
            except error:
                rejected += 1
        dt = time.perf_counter() - t0
        rows.append((name, len(inputs), rejected, rejected / dt, len(inputs) / dt))
    return rows


def _lag_rule(name: str, **extra: Any) -> dict[str, Any]:
    return {"metric": "kafka_group_lag_messages", "threshold": 900, "for_s": 30, "name": name, **extra}


def redos_tick(n_series: int, ticks: int, hostile: int = 50) -> tuple[float, float]:
    """Median ms of a collection tick (write + alert evaluation) without and with the ReDoS-shaped rule;
    the two stores tick alternately, so load from elsewhere on the machine hits both alike."""
    labels = [{"cluster": "c0", "group": ("a" * 5000 + "!") if i < hostile else f"svc-{i % 200}",
               "topic": f"t{i % 7}", "partition": str(i)} for i in range(n_series)]
    with tempfile.TemporaryDirectory() as tmp:
        stores = []
        for with_redos in (False, True):
            conn = open_migrated(Path(tmp) / f"bench-{with_redos}.db")
            writer = SampleWriter(conn)
            writer.write(Sample("kafka_group_lag_messages", lab, T0 - 1000, 0.0) for lab in labels)
            api.save_rule(conn, _lag_rule("lag-any"), "bench", T0)
            api.save_rule(conn, _lag_rule("lag-glob", selector={"topic": {"glob": "t*"}}), "bench", T0)
            if with_redos:
                api.save_rule(conn, _lag_rule("redos", selector={"group": {"regex": "(a+)+$"}}), "bench", T0)
            stores.append((conn, writer, []))
        for t in range(ticks):  # a collection tick: its sample write, then the alert evaluation
            now = T0 + t * 15_000
            for conn, writer, times in (stores if t % 2 else stores[::-1]):  # alternate who goes first
                t0 = time.perf_counter()
                writer.write(Sample("kafka_group_lag_messages", lab, now, float((i + t) % 1000))
                             for i, lab in enumerate(labels))
                evaluate(conn, now, Options())
                times.append((time.perf_counter() - t0) * 1000)
        for conn, _, _ in stores:
            conn.close()
    return statistics.median(stores[0][2]), statistics.median(stores[1][2])


def python_re_cost(n: int = 24) -> float:
    """Seconds Python's backtracking ``re`` needs for ``(a+)+$`` against ONE value of ``n`` a's and a '!'."""
    t0 = time.perf_counter()
    re.fullmatch("(a+)+$", "a" * n + "!")
    return time.perf_counter() - t0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.decoders_bench")
    ap.add_argument("--corpus", type=int, default=1000)
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--ticks", type=int, default=9)
    args = ap.parse_args(argv)
    print(f"decoders on the fuzz corpus ({args.corpus} inputs each):")
    for name, n, rejected, rej_s, in_s in decoder_rates(args.corpus):
        print(f"  {name:<18} rejected {rejected:>5}/{n:<5} {rej_s:>12,.0f} rejected/s {in_s:>12,.0f} inputs/s")
    without, with_redos = redos_tick(args.series, args.ticks)
    print(f"collection tick (write + 2 alert rules), {args.series} series (50 with a 5,001-char 'aaa…!' "
          f"group), {args.ticks} ticks:")
    print(f"  without ReDoS-shaped rule: {without:.1f} ms; plus a rule group=~'(a+)+$': {with_redos:.1f} ms; "
          f"ratio {with_redos / without:.2f}")
    print(f"  (Python's re on ONE 25-char value: {python_re_cost() * 1000:,.0f} ms; on 5,001 chars: never ends)")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
