"""Three `python -m collectors` processes share six targets (three Kafka clusters and three RabbitMQ
clusters, each pointing at the real test brokers) through leases in a PostgreSQL store: every target is
collected by one process; after SIGKILL of one, its targets are collected again within two intervals;
no target is collected by two processes in the same interval."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

from runner.leases import rendezvous_owner
from store import db, leases as store_leases, status

ROOT = Path(__file__).resolve().parents[2]
INTERVAL_S = 3.0
LEASE_TTL_S = 1.2  # the default would be 0.6 x 3 s = 1.8 s
CYCLE = re.compile(r"cycle (\S+) stamped (\d+) by (\S+)")


def _config(tmp_path: Path, url: str, kafka, rabbitmq) -> Path:
    cfg = {
        # worst case: ttl + one beat (ttl/3) + the next slot (one interval) = 4.6 s: 1.4 s of slack for delays
        "store": {"url": url, "lease_ttl_s": LEASE_TTL_S},
        "kafka": {"clusters": [{"name": f"k{i}", "bootstrap_servers": [kafka.bootstrap], "interval_s": INTERVAL_S}
                               for i in range(3)]},
        "rabbitmq": {"clusters": [{"name": f"r{i}", "management_url": rabbitmq.mgmt_url,
                                   "amqp_url": rabbitmq.amqp_url, "username": rabbitmq.user,
                                   "interval_s": INTERVAL_S, "queues_allow": ["eventdeck-lease-test-none"]}
                                  for i in range(3)]},
        "telemetry": {"enabled": False},
        "prometheus": {"enabled": False},
    }
    path = tmp_path / "eventdeck.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _status(url: str) -> dict[str, int]:
    conn = db.connect_reader(url)
    try:
        df = status.read_status(conn)
        return {r.target: int(r.last_ms) for r in df.itertuples() if r.up}
    finally:
        conn.close()


def _wait(pred, timeout_s: float, what: str):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def test_three_collectors_share_six_targets_and_take_over_a_killed_one(tmp_path, pg_store, kafka, rabbitmq):
    url = pg_store
    cfg = _config(tmp_path, url, kafka, rabbitmq)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTDECK_")}
    env["EVENTDECK_RABBITMQ_PASSWORD"] = rabbitmq.password
    targets = {f"kafka:k{i}" for i in range(3)} | {f"rabbitmq:r{i}" for i in range(3)}
    db.open_migrated(url).close()  # as a service would at start (the three would race for it otherwise)
    procs, logs = [], []
    try:
        for i in range(3):
            log = open(tmp_path / f"collector{i}.log", "w")
            logs.append(log)
            procs.append(subprocess.Popen([sys.executable, "-m", "collectors", "--config", str(cfg),
                                           "--log-level", "DEBUG"], cwd=ROOT, env=env, stdout=log,
                                          stderr=subprocess.STDOUT))
        # every target up, the three members beating, the leases spread over them
        _wait(lambda: set(_status(url)) >= targets, 90, "all six targets collected")

        def spread():
            conn = db.connect_reader(url)
            try:
                members = store_leases.read_members(conn)
                owners = store_leases.read_leases(conn)
            finally:
                conn.close()
            held = owners[owners["target"].isin(targets)]
            chosen = {t: rendezvous_owner(t, list(members["member"])) for t in targets}
            balanced = dict(zip(held["target"], held["owner"])) == chosen
            return (members, held) if len(members) == 3 and balanced else None

        # each target with the member rendezvous hashing chooses among the three
        _wait(spread, 30, "three members holding the six targets as rendezvous hashing spreads them")
        time.sleep(INTERVAL_S)  # a full interval of steady state
        members, held = _wait(spread, 30, "the spread again")  # owners right before the kill
        by_pid = {p.pid: p for p in procs}
        victim = held["owner"].value_counts().index[0]  # the member with most targets
        victim_pid = int(members.set_index("member").loc[victim, "pid"])
        lost = set(held[held["owner"] == victim]["target"])
        killed_at = int(time.time() * 1000)
        by_pid[victim_pid].send_signal(signal.SIGKILL)
        by_pid[victim_pid].wait(timeout=10)

        after = _wait(lambda: (s := _status(url)) and all(s.get(t, 0) > killed_at for t in lost) and s,
                      6 * INTERVAL_S, f"the killed member's targets {sorted(lost)} collected again")
        takeover_ms = max(after[t] for t in lost) - killed_at
        print(f"lease takeover: {takeover_ms} ms after SIGKILL for {len(lost)} targets (interval {INTERVAL_S} s): "
              f"{ {t: after[t] - killed_at for t in lost} }")
        assert takeover_ms <= 2 * INTERVAL_S * 1000, takeover_ms
        time.sleep(2 * INTERVAL_S)  # the survivors go on
        assert all(v > killed_at for v in _status(url).values())
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in logs:
            log.close()
    # no target collected by two processes in one interval
    cycles: dict[tuple[str, int], set[str]] = defaultdict(set)
    seen = 0
    for i in range(3):
        for m in CYCLE.finditer((tmp_path / f"collector{i}.log").read_text()):
            target, stamp, member = m.group(1), int(m.group(2)), m.group(3)
            cycles[(target, stamp // int(INTERVAL_S * 1000))].add(member)
            seen += 1
    assert seen >= 18 and {t for t, _ in cycles} == targets  # at least three cycles per target
    doubled = {k: v for k, v in cycles.items() if len(v) > 1}
    assert doubled == {}, doubled
    for p in procs:
        assert p.returncode in (0, -signal.SIGKILL), p.returncode
