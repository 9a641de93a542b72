"""Session cookies (signed, expiring, revocable), the one-time handoff code and the Host-header check."""
from __future__ import annotations

import pytest

from serve import host_allowed
from store.db import open_migrated
from views import sessions

KEY = b"k" * 32


@pytest.mark.parametrize("value, now, ok", [
    (sessions.sign(KEY, "tok", 2000), 1000, True),
    (sessions.sign(KEY, "tok", 2000), 2000, False),  # expired
    (sessions.sign(b"other" * 8, "tok", 2000), 1000, False),  # signed with another key
    (sessions.sign(KEY, "tok", 2000).replace(".2000.", ".9999."), 1000, False),  # expiry stretched
    ("tok.2000", 1000, False), ("", 1000, False), (None, 1000, False), ("a.b.c", 1000, False),
    ("x" * 400, 1000, False),
])
def test_unsign(value, now, ok):
    assert (sessions.unsign(KEY, value, now) == "tok") is ok


def test_handoff_is_one_time_and_revocation_ends_the_session(tmp_path):
    conn = open_migrated(tmp_path / "s.db")
    code = sessions.start(conn, "otto", "operator", "127.0.0.1", 1000, ttl_s=60)
    cookie, max_age = sessions.exchange(conn, code, 2000)
    assert max_age == 59
    assert sessions.exchange(conn, code, 2000) is None  # used up
    assert sessions.resume(conn, cookie, 3000) == ("otto", "operator")
    assert sessions.resume(conn, cookie, 61_000) is None  # expired
    assert sessions.revoke(conn, cookie, "otto", 4000)
    assert sessions.resume(conn, cookie, 5000) is None
    late = sessions.start(conn, "vera", "viewer", None, 10_000, ttl_s=60)
    assert sessions.exchange(conn, late, 10_000 + sessions.HANDOFF_TTL_MS + 1) is None  # the code expired
    assert sessions.exchange(conn, ["not", "a", "code"], 10_000) is None
    conn.close()


@pytest.mark.parametrize("host, ok", [
    ("127.0.0.1:8501", True), ("localhost:8501", True), ("[::1]:8501", True), ("LOCALHOST", True),
    ("dash.internal:443", True),
    ("evil.example", False), ("evil.example:8501", False), ("127.0.0.1.evil.example", False),
    ("0.0.0.0:8501", False), ("", False), (None, False),
])
def test_host_allowed(host, ok):
    assert host_allowed(host, "127.0.0.1", ["dash.internal"]) is ok


@pytest.fixture(scope="module")
def dashboard_cfg():
    from config.dashboard import DashboardConfig
    from tests.seed import password_hash

    return DashboardConfig(auth="password", login_max_failures=2, lockout_s=60, users=[
        {"name": "vera", "role": "viewer", "password_hash": password_hash("vera-pw")},
        {"name": "otto", "role": "operator", "password_hash": password_hash("vera-pw")}])


def test_lockout_per_user_and_address_in_the_store(tmp_path, dashboard_cfg):
    """Issue #23: the lockout is per (user, address): failures for vera from 10.0.0.1 do not lock vera out
    from her own address, nor otto from 10.0.0.1."""
    from store import audit

    conn = open_migrated(tmp_path / "s.db")
    t = 1_000_000
    for _ in range(2):  # two failures for vera from 10.0.0.1
        assert not sessions.attempt(conn, dashboard_cfg, "vera", "nope", "10.0.0.1", t).ok
    locked = sessions.attempt(conn, dashboard_cfg, "vera", "vera-pw", "10.0.0.1", t)
    assert not locked.ok and "Too many" in locked.message  # this (user, address) is locked
    assert sessions.attempt(conn, dashboard_cfg, "vera", "vera-pw", "10.0.0.2", t).ok  # vera elsewhere is not
    assert sessions.attempt(conn, dashboard_cfg, "otto", "vera-pw", "10.0.0.1", t).ok  # nor otto from there
    assert sessions.attempt(conn, dashboard_cfg, "vera", "vera-pw", "10.0.0.1", t + 61_000).ok  # it expires
    log = audit.read(conn)
    assert [(r.actor, r.outcome, r.detail["address"]) for r in log.sort_values("id").itertuples()] == [
        ("vera", "failure", "10.0.0.1"), ("vera", "failure", "10.0.0.1"), ("vera", "locked", "10.0.0.1"),
        ("vera", "success", "10.0.0.2"), ("otto", "success", "10.0.0.1"), ("vera", "success", "10.0.0.1")]
    assert not log["detail"].astype(str).str.contains("vera-pw|nope").any()  # never the password
    conn.close()
