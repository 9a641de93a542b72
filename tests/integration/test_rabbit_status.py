"""collector_up for a RabbitMQ cluster: down with a clear reason (401, management unreachable) and back
up by itself once fixed, without restarting the collector job."""
from __future__ import annotations

import socket
import threading
import time
import uuid
from urllib.parse import quote

import pytest
import requests

from collectors.rabbitmq import collect_job
from config.rabbitmq import RabbitClusterConfig
from demo.brokers import free_port
from runner.collect import CollectJob
from store.db import connect_reader
from store.queries import latest
from store.status import read_status


@pytest.fixture
def tmp_store(any_store):
    """This module runs on both store backends (SQLite, PostgreSQL)."""
    return any_store



def _status(store_path, target: str) -> dict:
    conn = connect_reader(store_path)
    try:
        df = read_status(conn)
        up = latest(conn, "collector_up", {"target": target})
    finally:
        conn.close()
    row = df[df["target"] == target]
    assert len(row) == 1, f"no status row for {target}"
    out = row.iloc[0].to_dict()
    out["sample"] = float(up["value"].iloc[0])
    return out


def _tick_until(job: CollectJob, store_path, up: bool, timeout: float = 60.0) -> dict:
    """Run the job like the scheduler does (its backoff may skip ticks) until the status is ``up``."""
    deadline = time.monotonic() + timeout
    while True:
        job()
        if (job.last_reason is None) is up:
            st = _status(store_path, job.target)
            if bool(st["up"]) is up:
                return st
        assert time.monotonic() < deadline, f"{job.target} never became up={up}; last reason {job.last_reason!r}"
        time.sleep(0.2)


@pytest.fixture
def make_job():
    """Collection job factory; closes each job's HTTP session and writer connection after the test."""
    made: list[CollectJob] = []

    def make(cfg: RabbitClusterConfig, store_path) -> CollectJob:
        made.append(collect_job(cfg, store_path))
        return made[-1]

    yield make
    for job in made:
        job.close()


@pytest.fixture
def monitoring_user(rabbitmq):
    """A throw-away management user (deleted after the test) with a known password."""
    name = f"ed-test-{uuid.uuid4().hex[:10]}"
    url = f"{rabbitmq.mgmt_url}/api/users/{name}"
    auth = (rabbitmq.user, rabbitmq.password)

    def set_password(pw: str) -> None:
        r = requests.put(url, json={"password": pw, "tags": "monitoring"}, auth=auth, timeout=30)
        assert r.status_code in (201, 204), r.text

    set_password(f"first-{uuid.uuid4().hex}")
    r = requests.put(f"{rabbitmq.mgmt_url}/api/permissions/{quote('/', safe='')}/{name}",
                     json={"configure": "", "write": "", "read": ".*"}, auth=auth, timeout=30)
    assert r.status_code in (201, 204), r.text
    yield name, set_password
    requests.delete(url, auth=auth, timeout=30)


def test_wrong_password_is_down_then_recovers(rabbitmq, tmp_store, monitoring_user, monkeypatch, make_job):
    user, set_password = monitoring_user
    env = f"ED_TEST_PW_{uuid.uuid4().hex.upper()}"
    good = f"second-{uuid.uuid4().hex}"
    monkeypatch.setenv(env, good)  # the collector's secret; the broker still has the first password
    cfg = RabbitClusterConfig(name=f"auth-{uuid.uuid4().hex[:6]}", management_url=rabbitmq.mgmt_url,
                              username=user, password_env=env, timeout_s=10)
    job = make_job(cfg, tmp_store)

    down = _tick_until(job, tmp_store, up=False)
    assert "authentication failed (401)" in down["reason"]
    assert user in down["reason"] and good not in down["reason"]
    assert down["sample"] == 0.0

    set_password(good)  # fixed on the broker side; the same job keeps ticking
    up = _tick_until(job, tmp_store, up=True)
    assert up["reason"] is None and up["sample"] == 1.0
    assert job.backoff.failures == 0


class _Forwarder:
    """A TCP forwarder from a local port to the management API: the "plugin coming back"."""

    def __init__(self, port: int, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(0.2)
        self.stopped = threading.Event()
        self.socks: list[socket.socket] = [self.listener]
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
            self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        for s in self.socks:
            s.close()


def test_management_unreachable_is_down_then_recovers(rabbitmq, tmp_store, monkeypatch, make_job):
    port = free_port()  # nothing listens there: the management plugin is "unreachable"
    env = f"ED_TEST_PW_{uuid.uuid4().hex.upper()}"
    monkeypatch.setenv(env, rabbitmq.password)
    cfg = RabbitClusterConfig(name=f"down-{uuid.uuid4().hex[:6]}", management_url=f"http://127.0.0.1:{port}",
                              username=rabbitmq.user, password_env=env, timeout_s=5, queues_allow=["ed-none-*"])
    job = make_job(cfg, tmp_store)

    down = _tick_until(job, tmp_store, up=False)
    assert "management plugin unreachable" in down["reason"] and "connection refused" in down["reason"]
    assert f"127.0.0.1:{port}" in down["reason"]

    fwd = _Forwarder(port, rabbitmq.mgmt_port)
    try:
        up = _tick_until(job, tmp_store, up=True)
    finally:
        fwd.close()
    assert up["reason"] is None and up["sample"] == 1.0


@pytest.fixture
def silent_port():
    """A port that accepts TCP connections (kernel backlog) but never answers."""
    srv = socket.create_server(("127.0.0.1", 0))
    yield srv.getsockname()[1]
    srv.close()


@pytest.mark.parametrize("case, expected", [
    # https against the plain-HTTP management port: the TLS handshake fails
    ("tls", "TLS error"),
    # the port accepts connections but never answers: a timeout, not a hang
    ("timeout", "timeout after 1s"),
])
def test_down_reasons(rabbitmq, tmp_store, silent_port, case, expected, make_job):
    url = {"tls": f"https://127.0.0.1:{rabbitmq.mgmt_port}", "timeout": f"http://127.0.0.1:{silent_port}"}[case]
    cfg = RabbitClusterConfig(name=f"{case}-{uuid.uuid4().hex[:6]}", management_url=url, username=rabbitmq.user,
                              password_env=f"ED_UNSET_{uuid.uuid4().hex.upper()}", timeout_s=1)
    job = make_job(cfg, tmp_store)
    down = _tick_until(job, tmp_store, up=False)
    assert expected in down["reason"], down["reason"]
    assert down["sample"] == 0.0
