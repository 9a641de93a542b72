"""The demo's steady CPU: what ``make run`` costs the machine at the default traffic.

Starts what ``make run`` starts with no brokers configured — noida-db, the shop simulator, the
collector service and the dashboard (no browser attached) — in a private directory, with a unique
topic/queue prefix so it cannot meet another demo on the shared RabbitMQ; waits ``--warmup`` s,
then reads every process's user+system CPU (and all its descendants') from ``/proc`` over
``--seconds`` s and prints % of one core per process and in total. The machine's RabbitMQ node is
shared with other work, so it is not counted (its figure would measure the neighbours too).
Target: total <= 10 % of one core.

    python -m bench.demo_cpu_bench [--warmup 20] [--seconds 30] [--rate 5] [--root DIR]

``--root`` runs the processes from another checkout (e.g. an older commit, for a before/after).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
TARGET_PCT = 10.0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:  # the thread ended while we looked
            continue
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.append(p)
            todo += _children(p)
    return seen


def cpu_ticks(pid: int) -> int:
    """utime + stime of one process (all its threads), in clock ticks; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def tree_ticks(pid: int) -> dict[int, int]:
    return {p: cpu_ticks(p) for p in tree(pid)}


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _spawn(cmd: list[str], root: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.demo_cpu_bench", description=__doc__.split("\n")[0])
    ap.add_argument("--warmup", type=float, default=20.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=None, help="orders/s (default: demo.orders_per_s)")
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout whose code runs (default: this one)")
    ap.add_argument("--no-dashboard", action="store_true")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from config import load_settings
    from demo import brokers
    from eventdeck.run import demo_settings

    root = args.root.resolve()
    work = Path(tempfile.mkdtemp(prefix="eventdeck-cpu-bench-"))
    state_path = work / "brokers.json"
    tag = uuid.uuid4().hex[:8]
    procs: dict[str, subprocess.Popen] = {}
    env = dict(os.environ, PYTHONPATH=str(root))
    try:
        state = brokers.up(state_path, kinds=("noida",))
        cfg = demo_settings(state)
        cfg["store"]["path"] = str(work / "demo.db")
        cfg["telemetry"].update(kafka_topic=f"bench-{tag}.telemetry", rabbitmq_exchange=f"bench-{tag}.telemetry",
                                rabbitmq_queue=f"bench-{tag}.telemetry.collector")
        cfg_path = work / "demo.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        settings = load_settings(str(cfg_path))
        rate = args.rate or settings.demo.orders_per_s
        env["EVENTDECK_CONFIG"] = str(cfg_path)
        py = sys.executable
        procs["simulator"] = _spawn(
            [py, "-m", "demo.simulator", "--kafka", state["kafka"]["noida"]["bootstrap"],
             "--rabbitmq", state["rabbitmq"]["amqp_url"], "--rate", str(rate),
             "--failure", str(settings.demo.failure_probability), "--latency-ms", str(settings.demo.latency_ms),
             "--prefix", f"bench-{tag}", "--telemetry-name", f"bench-{tag}.telemetry"],
            root, env, work / "simulator.log")
        procs["collectors"] = _spawn([py, "-m", "collectors"], root, env, work / "collectors.log")
        if not args.no_dashboard:
            procs["dashboard"] = _spawn([py, "-m", "streamlit", "run", "app.py", "--server.port", str(_free_port()),
                                         "--server.headless", "true"], root, env, work / "dashboard.log")
        noida_pid = state["kafka"]["noida"]["pid"]
        print(f"demo at {rate:g} orders/s from {root}; warm-up {args.warmup:g} s, measuring {args.seconds:g} s",
              flush=True)
        time.sleep(args.warmup)
        watched = {**{n: p.pid for n, p in procs.items()}, "noida-db": noida_pid}
        t0, before = time.monotonic(), {n: tree_ticks(pid) for n, pid in watched.items()}
        time.sleep(args.seconds)
        t1, after = time.monotonic(), {n: tree_ticks(pid) for n, pid in watched.items()}
        for name, p in procs.items():
            if p.poll() is not None:
                print(f"{name} exited early (code {p.returncode}); see {work}/{name}.log")
                return 1
        total = 0.0
        for name in watched:
            ticks = sum(t - before[name].get(p, 0) for p, t in after[name].items())
            pct = 100.0 * ticks / TICK / (t1 - t0)
            total += pct
            print(f"  {name:<11} {pct:6.1f} % of one core")
        verdict = "ok" if total <= TARGET_PCT else "OVER"
        print(f"  {'total':<11} {total:6.1f} % of one core (target <= {TARGET_PCT:g} %: {verdict})")
        return 0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
        for p in procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        brokers.down(state_path)
        if "state" in locals():
            _cleanup_rabbit(state, tag)


def _cleanup_rabbit(state: dict, tag: str) -> None:
    """Delete the bench's queues and exchanges from the shared RabbitMQ."""
    import pika

    from demo.simulator import SERVICES
    try:
        conn = pika.BlockingConnection(pika.URLParameters(state["rabbitmq"]["amqp_url"]))
    except pika.exceptions.AMQPError as exc:  # the bench figures are printed; a leftover is reported
        print(f"could not clean up bench-{tag} queues: {exc!r}")
        return
    try:
        ch = conn.channel()
        for s in SERVICES:
            ch.queue_delete(f"bench-{tag}.{s}")
            ch.queue_delete(f"bench-{tag}.{s}.dlq")
        ch.queue_delete(f"bench-{tag}.telemetry.collector")
        for x in ("orders", "dlx", "telemetry"):
            ch.exchange_delete(f"bench-{tag}.{x}")
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
