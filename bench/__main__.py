"""``python -m bench``: run every benchmark in turn; each prints its own throughputs and ratios."""
from __future__ import annotations

import importlib
import sys
import time

from bench import verdict

BENCHES = ("bench.store_bench", "bench.kafka_collect_bench", "bench.rabbitmq_collect_bench",
           "bench.instrument_bench", "bench.replay_bench", "bench.dashboard_bench",
           "bench.alerts_bench", "bench.decoders_bench", "bench.demo_cpu_bench", "bench.dashboard_browser_bench",
           "bench.prometheus_bench", "bench.postgres_bench", "bench.schema_decode_bench")


def main(argv: list[str]) -> int:
    chosen = [b for b in BENCHES if not argv or any(a in b for a in argv)]
    failed = []
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        try:
            rc = importlib.import_module(name).main([])
        except Exception as exc:  # one broken bench must not hide the others' figures
            print(f"{name} failed: {exc!r}", flush=True)
            rc = 1
        print(f"--- {name}: {time.perf_counter() - t0:.1f} s", flush=True)
        if rc:
            failed.append(name)
    if verdict.ROWS:
        print("\n" + verdict.table(), flush=True)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
