"""Where the suite's time goes: an opt-in pytest plugin and its report (measurement only, asserts nothing).

    EVENTDECK_SUITE_TIMING=/tmp/t .venv/bin/python -m pytest -p tests.suite_timing [args]
    .venv/bin/python -m tests.suite_timing /tmp/t

Every test process (each xdist worker) appends one JSON line per test (setup + call + teardown: wall time and
the process's own CPU time) and per fixture set-up (wall, CPU, scope, parameter) to ``<prefix>.<worker>``. The
report sums tests per layer and per module, and fixture set-ups per fixture (how many times each was built and
what that cost), slowest first. Wall times depend on the machine's load: note ``uptime`` next to a run and
compare runs made in the same conditions; the CPU column is the test process alone (not brokers, dashboards or
Chromium, which are other processes).
"""
from __future__ import annotations

import collections
import glob
import json
import os
import sys
import time

import pytest

_out = None


def _write(rec: dict) -> None:
    global _out
    prefix = os.environ.get("EVENTDECK_SUITE_TIMING")
    if not prefix:
        return
    if _out is None:
        _out = open(f"{prefix}.{os.environ.get('PYTEST_XDIST_WORKER', 'main')}", "a")
    _out.write(json.dumps(rec) + "\n")
    _out.flush()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    w0, c0 = time.perf_counter(), time.process_time()
    yield
    _write({"k": "test", "id": item.nodeid.split("@")[0], "wall": time.perf_counter() - w0,
            "cpu": time.process_time() - c0})


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):
    w0, c0 = time.perf_counter(), time.process_time()
    yield
    _write({"k": "fix", "name": fixturedef.argname, "scope": fixturedef.scope,
            "param": str(getattr(request, "param", ""))[:40], "wall": time.perf_counter() - w0,
            "cpu": time.process_time() - c0})


def report(prefix: str, top: int = 25) -> str:
    tests, fixtures = [], []
    for path in sorted(glob.glob(f"{glob.escape(prefix)}.*")):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                (tests if rec["k"] == "test" else fixtures).append(rec)
    lines = []
    layers: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
    modules: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for t in tests:
        module = t["id"].split("::")[0]
        parts = module.split("/")
        for acc in (layers[parts[1] if len(parts) > 2 else module], modules[module]):
            acc[0] += 1
            acc[1] += t["wall"]
            acc[2] += t["cpu"]
    lines.append("   wall s    cpu s  tests  layer")
    lines += [f"{w:9.1f} {c:8.1f} {n:6d}  {k}" for k, (n, w, c) in sorted(layers.items(), key=lambda kv: -kv[1][1])]
    lines.append("   wall s    cpu s  tests  module (setup + call + teardown)")
    lines += [f"{w:9.1f} {c:8.1f} {n:6d}  {k}"
              for k, (n, w, c) in sorted(modules.items(), key=lambda kv: -kv[1][1])[:top]]
    built: dict[tuple, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
    for f in fixtures:
        acc = built[(f["name"], f["scope"])]
        acc[0] += 1
        acc[1] += f["wall"]
        acc[2] += f["cpu"]
    lines.append("   wall s    cpu s  built  fixture (scope)")
    lines += [f"{w:9.1f} {c:8.1f} {n:6d}  {name} ({scope})"
              for (name, scope), (n, w, c) in sorted(built.items(), key=lambda kv: -kv[1][1])[:top]]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m tests.suite_timing PREFIX [TOP]")
    print(report(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25))
