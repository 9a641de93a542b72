"""Crash safety: replays run by `python -m dlq`, SIGKILLed at random points and resumed, several
times per broker. Nothing is lost; a duplicate carries the same replay id as its first copy; at most
one duplicate per kill for Kafka and for RabbitMQ's strict mode (window 1), at most W per kill for a
RabbitMQ window of W."""
from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Callable

import pika
import pytest
import yaml

from dlq import api, plan
from store.db import open_migrated
from tests.integration.dlq_helpers import Topology, header, make_topics, read_all, seed, settings_for, spring, uid
from tests.conftest import store_settings
from tests.integration.dlq_crash_helpers import Crash, _crash_on_record, _progress


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store


ROOT = Path(__file__).resolve().parents[2]
TOTAL = 500
KILLS = 3
RATE = 200  # slow enough that random kill points land inside the run


def _resume(cfg: Path, job_id: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlq", "--config", str(cfg), "replay", "--resume", str(job_id)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def kill_and_resume(cfg: Path, store: Path, job_id: int, seed_: int, total: int = TOTAL, kills_wanted: int = KILLS,
                    after_run: Callable[[int], None] = lambda run: None) -> int:
    """Run the job in subprocesses, SIGKILL each of the first ``kills_wanted`` at a random point of
    progress, then let the last one finish; ``after_run(i)`` runs once run i's process is gone.
    Returns the number of kills that hit a running replay."""
    rng = random.Random(seed_)
    kills = 0
    while True:
        proc = _resume(cfg, job_id)
        if kills < kills_wanted:
            done = _progress(store, job_id).get("replayed", 0)
            room = total - done
            threshold = done + rng.randint(max(1, room // 8), max(2, room // 3))
            deadline = time.monotonic() + 60
            while _progress(store, job_id).get("replayed", 0) < threshold and proc.poll() is None:
                assert time.monotonic() < deadline, "the replay made no progress"
                time.sleep(rng.uniform(0.005, 0.05))
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            out = proc.communicate(timeout=30)[0].decode()
            after_run(kills)
            if _progress(store, job_id).get("state") == "done":  # on a loaded machine it may finish first
                assert kills >= 1, "no kill landed inside the replay"
                return kills
            assert proc.returncode == -signal.SIGKILL, out[-2000:]
            kills += 1
            continue
        out = proc.communicate(timeout=90)[0].decode()
        assert proc.returncode == 0, out[-2000:]
        after_run(kills)
        return kills


def _job(store: Path, request: dict[str, Any]) -> int:
    conn = open_migrated(store)
    try:
        return api.enqueue_replay(conn, {"rate_per_s": RATE, **request}, "crash-test", int(time.time() * 1000))
    finally:
        conn.close()


def test_kafka_replay_survives_sigkill(kafka, tmp_store, tmp_path):
    u = uid()
    src, dlq = f"crash-{u}", f"crash-{u}.DLT"
    make_topics(kafka.bootstrap, {src: 3, dlq: 1})
    seed(kafka.bootstrap, dlq, [(str(i).encode(), f"v{i}".encode(), spring(src, i % 3, i)) for i in range(TOTAL)])
    cfg = tmp_path / "eventdeck.yaml"
    cfg.write_text(yaml.safe_dump({"store": store_settings(tmp_store),
                                   "kafka": {"clusters": [{"name": "k", "bootstrap_servers": [kafka.bootstrap]}]}}))
    job_id = _job(tmp_store, {"broker": "kafka", "cluster": "k", "dlq": dlq})
    kills = kill_and_resume(cfg, tmp_store, job_id, seed_=zlib.crc32(kafka.kind.encode()))

    job = _progress(tmp_store, job_id)
    assert (job["state"], job["replayed"], job["failed"]) == ("done", TOTAL, 0), job
    got = read_all(kafka.bootstrap, src, TOTAL, timeout=60)
    ids = collections.Counter(header(r, "eventdeck-replay-id") for r in got)
    expected = {plan.replay_id("kafka", "k", dlq, plan.kafka_coord(0, i)) for i in range(TOTAL)}
    assert set(ids) == expected  # nothing lost, nothing foreign
    assert len(got) - TOTAL <= kills, f"{len(got) - TOTAL} duplicates after {kills} kills"
    for r in got:  # every copy went to its original partition with the id of its DLQ offset
        assert r.partition == int(r.key) % 3
        assert header(r, "eventdeck-replay-id") == plan.replay_id("kafka", "k", dlq, f"0:{int(r.key)}")


def test_rabbit_strict_replay_survives_sigkill(rabbitmq, tmp_store, tmp_path):
    u = uid()
    topo = Topology(rabbitmq.amqp_url)
    try:
        dlq = topo.queue(f"crash-{u}.dlq")
        dest = topo.queue(f"crash-{u}")
        for i in range(TOTAL):
            topo.ch.basic_publish("", dlq, f"m{i}".encode(), pika.BasicProperties(message_id=str(i)))
        topo.wait_depth(dlq, TOTAL)
        cfg = tmp_path / "eventdeck.yaml"
        cfg.write_text(yaml.safe_dump({"store": store_settings(tmp_store), "rabbitmq": {"clusters": [
            {"name": "r", "amqp_url": f"amqp://{rabbitmq.host}:{rabbitmq.amqp_port}/%2F",
             "username": rabbitmq.user}]}}))
        job_id = _job(tmp_store, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "window": 1})  # strict mode
        kills = kill_and_resume(cfg, tmp_store, job_id, seed_=7)

        job = _progress(tmp_store, job_id)
        assert (job["state"], job["replayed"], job["failed"]) == ("done", TOTAL, 0), job
        assert topo.depth(dlq) == 0
        got = topo.drain(dest)
        bodies = collections.Counter(b for _, b in got)
        assert set(bodies) == {f"m{i}".encode() for i in range(TOTAL)}  # nothing lost
        assert len(got) - TOTAL <= kills, f"{len(got) - TOTAL} duplicates after {kills} kills"
        print(f"strict SIGKILL: {kills} kills, {len(got) - TOTAL} duplicates")
        ids: dict[bytes, set[str]] = collections.defaultdict(set)
        for props, body in got:
            ids[body].add(props.headers["eventdeck-replay-id"])
        assert all(len(v) == 1 for v in ids.values())  # a duplicate carries the same replay id
    finally:
        topo.close()


def test_kafka_acknowledged_but_unrecorded_batch_is_reconciled(kafka, tmp_store, monkeypatch):
    """The worst Kafka window: the broker acked a batch, the ledger write never happened."""
    from dlq.jobs import run_pending

    u = uid()
    src, dlq = f"recon-{u}", f"recon-{u}.DLT"
    make_topics(kafka.bootstrap, {src: 2, dlq: 1})
    seed(kafka.bootstrap, dlq, [(str(i).encode(), b"v", spring(src, i % 2, i)) for i in range(60)])
    st = settings_for(kafka.bootstrap, tmp_store)
    job_id = _job(tmp_store, {"broker": "kafka", "cluster": "k", "dlq": dlq, "rate_per_s": 200})  # batches of 20

    def second_batch(outcomes):
        return any(o["coord"] == "0:20" for o in outcomes)
    second_batch.after_write = False
    _crash_on_record(monkeypatch, second_batch)
    with pytest.raises(Crash):
        run_pending(st, tmp_store, job_id)
    assert _progress(tmp_store, job_id)["replayed"] == 20
    assert run_pending(st, tmp_store, job_id) == job_id  # same owner: resumes at once
    job = _progress(tmp_store, job_id)
    assert (job["state"], job["replayed"]) == ("done", 60)
    msgs = api.job_messages(open_migrated(tmp_store), job_id)
    reconciled = sum("reconciled" in (m["detail"] or "") for m in msgs)
    assert reconciled in (20, 40)  # batch 2, and batch 3 if it was already sent (double-buffered)
    got = read_all(kafka.bootstrap, src, 60)
    assert len(got) == 60 and len({header(r, "eventdeck-replay-id") for r in got}) == 60  # no duplicate


@pytest.mark.parametrize("window", [1, 4])
def test_rabbit_recorded_but_unacked_copy_is_acked_not_republished(rabbitmq, tmp_store, tmp_path, monkeypatch,
                                                                    window):
    """The RabbitMQ window after the ledger write: the redelivered DLQ copies are only acked."""
    from config import Settings
    from dlq.jobs import run_pending

    u = uid()
    topo = Topology(rabbitmq.amqp_url)
    try:
        dlq = topo.queue(f"acked-{u}.dlq")
        dest = topo.queue(f"acked-{u}")
        for i in range(10):
            topo.ch.basic_publish("", dlq, f"m{i}".encode())
        topo.wait_depth(dlq, 10)
        st = Settings.model_validate({"store": store_settings(tmp_store), "rabbitmq": {"clusters": [
            {"name": "r", "amqp_url": f"amqp://{rabbitmq.host}:{rabbitmq.amqp_port}/%2F", "username": rabbitmq.user}]}})
        job_id = _job(tmp_store, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "rate_per_s": None,
                                  "window": window})

        def fourth(outcomes):  # strict mode: the 4th message's record; windowed: the first batch's
            return window > 1 or _progress(tmp_store, job_id)["replayed"] == 3
        fourth.after_write = True
        _crash_on_record(monkeypatch, fourth)
        with pytest.raises(Crash):
            run_pending(st, tmp_store, job_id)
        recorded = {m["replay_id"] for m in api.job_messages(open_migrated(tmp_store), job_id)}
        assert recorded and len(recorded) <= window + 3
        # strict: 3 moved, the 4th recorded but never acked is back; windowed: the batch was never acked
        topo.wait_depth(dlq, 7 if window == 1 else 10)
        assert run_pending(st, tmp_store, job_id) == job_id
        job = _progress(tmp_store, job_id)
        assert (job["replayed"], job["total"]) == (10, 10), job
        assert topo.depth(dlq) == 0
        got = topo.drain(dest)
        assert {b for _, b in got} == {f"m{i}".encode() for i in range(10)}
        ids = collections.Counter(p.headers["eventdeck-replay-id"] for p, _ in got)
        assert all(ids[r] == 1 for r in recorded)  # recorded before the crash: never published again
        assert len(got) - 10 <= window - 1 if window > 1 else len(got) == 10
    finally:
        topo.close()


WINDOW, BIG, BIG_KILLS = 256, 2000, 5


def test_rabbit_windowed_replay_survives_sigkill(rabbitmq, tmp_store, tmp_path):
    """2,000 messages, window 256, SIGKILLed at random points at least 5 times: nothing lost, at most W
    duplicates per kill, each with the replay id of its first copy; the total stays right."""
    u = uid()
    topo = Topology(rabbitmq.amqp_url)
    try:
        dlq = topo.queue(f"wcrash-{u}.dlq")
        dest = topo.queue(f"wcrash-{u}")
        for i in range(BIG):
            topo.ch.basic_publish("", dlq, f"m{i}".encode(), pika.BasicProperties(message_id=str(i)))
        topo.wait_depth(dlq, BIG)
        cfg = tmp_path / "eventdeck.yaml"
        cfg.write_text(yaml.safe_dump({"store": store_settings(tmp_store), "rabbitmq": {"clusters": [
            {"name": "r", "amqp_url": f"amqp://{rabbitmq.host}:{rabbitmq.amqp_port}/%2F",
             "username": rabbitmq.user}]}}))
        job_id = _job(tmp_store, {"broker": "rabbitmq", "cluster": "r", "dlq": dlq, "window": WINDOW,
                                  "rate_per_s": 1000})
        runs: dict[bytes, list[int]] = collections.defaultdict(list)  # body -> runs its copies arrived in
        ids: dict[bytes, set[str]] = collections.defaultdict(set)

        def after_run(run: int) -> None:
            job = _progress(tmp_store, job_id)
            done = job["replayed"] + job["parked"] + job["skipped"] + job["failed"]
            assert done <= job["total"], job  # progress never passes 100 %
            last, still = -1, time.monotonic()
            while time.monotonic() - still < 0.3:  # publishes of the killed process may still land
                if (d := topo.depth(dest)) != last:
                    last, still = d, time.monotonic()
                time.sleep(0.05)
            for props, body in topo.drain(dest):
                runs[body].append(run)
                ids[body].add(props.headers["eventdeck-replay-id"])

        kills = kill_and_resume(cfg, tmp_store, job_id, seed_=16, total=BIG, kills_wanted=BIG_KILLS + 1,
                                after_run=after_run)
        assert kills >= BIG_KILLS, f"only {kills} kills landed inside the replay"
        job = _progress(tmp_store, job_id)
        assert (job["state"], job["replayed"], job["failed"], job["total"]) == ("done", BIG, 0, BIG), job
        assert topo.depth(dlq) == 0
        assert set(runs) == {f"m{i}".encode() for i in range(BIG)}  # nothing lost
        per_kill = collections.Counter(r for rs in runs.values() for r in sorted(rs)[:-1])  # extra copies
        assert all(n <= WINDOW for n in per_kill.values()), f"duplicates per kill: {dict(per_kill)}"
        assert all(len(v) == 1 for v in ids.values())  # a duplicate carries the same replay id
        print(f"windowed SIGKILL: {kills} kills, duplicates per kill {dict(per_kill)}")
    finally:
        topo.close()
