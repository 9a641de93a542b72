"""Handler overhead of `instrument` per message, with and without instrumentation, in one run.

Prints nanoseconds per message for a bare handler, the same handler wrapped with
``Recorder.timed`` and with ``Recorder.time()``, the added nanoseconds and the ratio (target:
under 5 µs added), plus the summary size and decode+merge throughput the collector sees.

    python -m bench.instrument_bench [--messages 200000]
"""
from __future__ import annotations

import argparse
import json
import time

from instrument.summary import decode_summary, encode_summary, merge_summaries
from instrument.timing import Recorder

ORDER = {"order_id": "o-1", "amount": 42.0, "items": [{"sku": "SKU-001", "qty": 2}]}


def handler(order: dict) -> float:
    """A small but real handler body: sums the order lines."""
    return order["amount"] * sum(i["qty"] for i in order["items"])


def _ns_per_call(fn, n: int, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn(ORDER)
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=200_000)
    n = ap.parse_args(argv).messages
    rec = Recorder("bench", "kafka")
    timed = rec.timed(handler)

    def with_block(order: dict) -> float:
        with rec.time():
            return handler(order)

    bare = _ns_per_call(handler, n)
    deco = _ns_per_call(timed, n)
    ctx = _ns_per_call(with_block, n)
    print(f"bare handler            {bare:9.0f} ns/msg")
    for name, v in (("@Recorder.timed", deco), ("with Recorder.time()", ctx)):
        print(f"{name:23s} {v:9.0f} ns/msg   added {v - bare:7.0f} ns   ratio {v / bare:5.1f}x   "
              f"{'OK' if v - bare < 5_000 else 'OVER'} (target < 5000 ns added)")

    payload = encode_summary(rec.swap())
    summaries = [decode_summary(payload) for _ in range(3)]
    t0 = time.perf_counter()
    rounds = 300
    for _ in range(rounds):
        merge_summaries([decode_summary(payload) for _ in range(3)])
    per = (time.perf_counter() - t0) / (rounds * 3)
    print(f"summary of {summaries[0].count} calls: {len(payload)} bytes; "
          f"decode+merge {1 / per:,.0f} summaries/s")
    print(json.dumps({"bare_ns": round(bare), "timed_ns": round(deco), "added_ns": round(deco - bare),
                      "ratio": round(deco / bare, 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
