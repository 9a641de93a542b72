"""Alert evaluation cost per collection tick, against the tick's own sample write.

Fills a temporary store with ``--series`` lag series (plus one status per group), stores 10
rules (per-series, aggregated, glob and regex selectors) and the built-ins, then for ``--ticks``
ticks writes one sample per series and evaluates every rule at the tick's injected time. Prints
evaluation time per tick (wall and CPU: on a shared machine the CPU time is the steadier figure),
(rule × series) checks per second, the transitions recorded per tick (the values rotate: each tick about a
tenth of the series start a pending incident per rule and the last tick's are cancelled, so most of the
tick is state rows written and deleted), and the ratio of evaluation time to the tick's write time (how
much the alerts add to a collection tick). Reports the issue-26 rows (bench.verdict): 2,000 series
≤ 20 ms and 20,000 series ≤ 150 ms per tick.

``python -m bench.alerts_bench [--series N] [--ticks N]`` (no ``--series``: both sizes)
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench import verdict

from alerts import api
from alerts.evaluator import Options, evaluate
from store.db import open_migrated
from store.types import Sample
from store.writes import SampleWriter

T0 = 1_800_000_000_000


def rules() -> list[dict]:
    base = {"metric": "kafka_group_lag_messages", "threshold": 900, "for_s": 30}
    return [
        {**base, "name": "lag-any"},
        {**base, "name": "lag-orders", "selector": {"topic": {"glob": "orders.*"}}},
        {**base, "name": "lag-regex", "selector": {"group": {"regex": "svc-1[0-9]+"}}},
        {**base, "name": "lag-cluster", "selector": {"cluster": "c0"}},
        {**base, "name": "lag-sum-group", "aggregation": "sum", "by": ["cluster", "group"], "threshold": 5000},
        {**base, "name": "lag-max-topic", "aggregation": "max", "by": ["topic"]},
        {**base, "name": "lag-avg", "aggregation": "avg", "threshold": 400},
        {**base, "name": "lag-count", "aggregation": "count", "threshold": 10},
        {**base, "name": "lag-low", "comparison": "<", "threshold": 10, "severity": "info"},
        {**base, "name": "lag-not-test", "selector": {"group": {"not_glob": "test-*"}}},
    ]


def run(n_series: int, ticks: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        conn = open_migrated(Path(tmp) / "bench.db")
        writer = SampleWriter(conn)
        groups = max(1, n_series // 10)
        labels = [{"cluster": f"c{i % 2}", "group": f"svc-{i % groups}", "topic": f"orders.t{i % 7}",
                   "partition": str(i)} for i in range(n_series)]
        status = [{"cluster": f"c{g % 2}", "group": f"svc-{g}"} for g in range(groups)]
        writer.write(Sample("kafka_group_lag_messages", lab, T0 - 1000, 0.0) for lab in labels)
        api.seed_builtin(conn, T0)
        for spec in rules():
            api.save_rule(conn, spec, "bench", T0)
        write_ms, eval_ms, cpu_ms, changes = [], [], [], []
        for t in range(ticks):
            now = T0 + t * 15_000
            samples = [Sample("kafka_group_lag_messages", lab, now, float((i * 37 + t * 101) % 1000))
                       for i, lab in enumerate(labels)]
            samples += [Sample("kafka_group_status", lab, now, float((g + t) % 6)) for g, lab in enumerate(status)]
            t0 = time.perf_counter()
            writer.write(samples)
            t1, c1 = time.perf_counter(), time.process_time()
            evaluate(conn, now, Options())
            t2, c2 = time.perf_counter(), time.process_time()
            write_ms.append((t1 - t0) * 1000)
            eval_ms.append((t2 - t1) * 1000)
            cpu_ms.append((c2 - c1) * 1000)
            changes.append(conn.execute("SELECT count(*) FROM alert_transitions WHERE ts_ms = ?", (now,)).fetchone()[0])
        conn.close()
    checks = (len(rules()) * n_series + groups)
    med_eval = statistics.median(eval_ms)
    return {"eval_ms": med_eval, "cpu_ms": statistics.median(cpu_ms), "write_ms": statistics.median(write_ms),
            "checks_per_s": checks / med_eval * 1000, "transitions": statistics.median(changes)}


# issue 26: per-tick evaluation targets by number of series
TARGETS_MS = {2000: 20.0, 20000: 150.0}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.alerts_bench")
    ap.add_argument("--series", type=int, action="append", help="repeatable; default: 2000 and 20000")
    ap.add_argument("--ticks", type=int, default=10)
    args = ap.parse_args(argv)
    for n in args.series or sorted(TARGETS_MS):
        r = run(n, args.ticks)
        print(f"series: {n}, rules: {len(rules())} + 3 built-in, ticks: {args.ticks}")
        print(f"evaluation per tick (median): {r['eval_ms']:.1f} ms wall, {r['cpu_ms']:.1f} ms CPU")
        print(f"rule x series checks: {r['checks_per_s']:,.0f} /s")
        print(f"transitions recorded per tick (median): {r['transitions']:,.0f}")
        print(f"tick sample write (median): {r['write_ms']:.1f} ms")
        print(f"evaluation / write time ratio: {r['eval_ms'] / r['write_ms']:.2f}")
        if n in TARGETS_MS:
            verdict.report(f"alert evaluation per tick, {n:,} series x {len(rules()) + 3} rules", r["eval_ms"],
                           TARGETS_MS[n], "ms", higher_is_better=False)
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
