"""Issue #23, sign-in and session hardening (real store on both backends where the store is involved):
concurrent tries cannot pass the limit, a global slow-down, unknown users hashed at the costliest cost,
loopback clients limited too, the one-time code bound to the asking browser, the idle timeout, Origin and
Secure-cookie rules of serve.py, and a viewer as the default anonymous role."""
from __future__ import annotations

import threading

import pytest

from config.dashboard import DashboardConfig, hash_password
from serve import origin_allowed
from store import audit
from store.db import open_migrated
from views import sessions

SALT = b"s" * 16


@pytest.fixture(scope="module")
def hashes():
    import hashlib
    import base64
    # a costlier hash (N = 2^18) for otto, the default one for vera
    costly_digest = hashlib.scrypt(b"otto-pw", salt=SALT, n=2 ** 18, r=8, p=1, dklen=32, maxmem=2 ** 31 - 1)
    costly = f"scrypt${2 ** 18}$8$1${base64.b64encode(SALT).decode()}${base64.b64encode(costly_digest).decode()}"
    return {"vera": hash_password("vera-pw", SALT), "otto": costly}


def _cfg(hashes, **over) -> DashboardConfig:
    return DashboardConfig(**{"auth": "password", "login_max_failures": 3, "lockout_s": 60,
                              "users": [{"name": "vera", "role": "viewer", "password_hash": hashes["vera"]},
                                        {"name": "otto", "role": "operator", "password_hash": hashes["otto"]}],
                              **over})


def test_concurrent_tries_never_pass_the_limit(any_store, hashes, monkeypatch):
    """Six concurrent wrong passwords against a limit of 3: the attempt is recorded before the hash, so at
    most 3 reach the hash (before: all 6 did, each costing 128 MiB-1 GiB); at most 2 hashes run at once."""
    cfg = _cfg(hashes)
    running, peak, hashed = [0], [0], [0]
    lock = threading.Lock()
    real = sessions.verify_password

    def counting(password, stored):
        with lock:
            running[0] += 1
            hashed[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            return real(password, stored)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(sessions, "verify_password", counting)
    results = []

    def one():
        conn = open_migrated(any_store)
        try:
            results.append(sessions.attempt(conn, cfg, "vera", "wrong", "10.0.0.9", 1_000_000, sleep=lambda s: None))
        finally:
            conn.close()

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 6 and not any(r.ok for r in results)
    assert hashed[0] <= cfg.login_max_failures and peak[0] <= sessions.MAX_CONCURRENT_HASHES
    assert sum("Too many" in r.message for r in results) >= 6 - cfg.login_max_failures


def test_unknown_users_are_hashed_at_the_costliest_configured_cost(tmp_store, hashes, monkeypatch):
    cfg = _cfg(hashes)
    seen = []
    monkeypatch.setattr(sessions, "verify_password", lambda pw, stored: seen.append(stored) or False)
    conn = open_migrated(tmp_store)
    try:
        sessions.attempt(conn, cfg, "nobody", "x", "10.0.0.1", 1, sleep=lambda s: None)
    finally:
        conn.close()
    assert seen == [hashes["otto"]]  # N = 2^18, not the first user's 2^17


@pytest.mark.parametrize("failures, delay", [(0, 0.0), (20, 0.0), (21, 0.25), (28, 2.0), (500, 5.0)])
def test_global_slowdown_table(failures, delay):
    assert sessions.slowdown_s(failures) == delay


def test_global_slowdown_applies_across_users_and_addresses(tmp_store, hashes, monkeypatch):
    monkeypatch.setattr(sessions, "verify_password", lambda pw, stored: False)  # the hash is not the point here
    cfg = _cfg(hashes, login_max_failures=100)
    conn = open_migrated(tmp_store)
    slept = []
    try:
        for i in range(sessions.GLOBAL_FREE + 4):  # a spray: a new user and address each time
            sessions.attempt(conn, cfg, f"user{i}", "x", f"10.1.0.{i}", 5_000 + i, sleep=slept.append)
    finally:
        conn.close()
    assert slept == [0.25, 0.5, 0.75, 1.0]  # an attempt counts itself: attempts 21..24 see 21..24 failures


def test_loopback_clients_get_their_own_limit(tmp_store, hashes):
    cfg = _cfg(hashes)
    assert sessions.subjects("vera", None)[0] == "pair:vera|loopback"
    conn = open_migrated(tmp_store)
    try:
        for _ in range(3):
            sessions.attempt(conn, cfg, "vera", "nope", None, 1_000, sleep=lambda s: None)
        assert "Too many" in sessions.attempt(conn, cfg, "vera", "vera-pw", None, 1_000, sleep=lambda s: None).message
    finally:
        conn.close()


def test_handoff_code_works_only_in_the_browser_that_asked(any_store):
    """Login CSRF: an attacker's own code, sent to a victim's browser (another browser cookie), is refused."""
    conn = open_migrated(any_store)
    try:
        code = sessions.start(conn, "mallory", "viewer", "10.0.0.66", 1000, ttl_s=600, browser="attacker-browser")
        assert sessions.exchange(conn, code, 2000, browser="victim-browser") is None
        assert sessions.exchange(conn, code, 2000, browser=None) is None
        code = sessions.start(conn, "otto", "operator", "10.0.0.1", 1000, ttl_s=600, browser="otto-browser")
        cookie, _ = sessions.exchange(conn, code, 2000, browser="otto-browser")
        assert sessions.resume(conn, cookie, 3000) == ("otto", "operator")
    finally:
        conn.close()


def test_idle_session_ends(any_store):
    conn = open_migrated(any_store)
    try:
        code = sessions.start(conn, "otto", "operator", None, 0, ttl_s=12 * 3600)
        cookie, _ = sessions.exchange(conn, code, 1000)
        assert sessions.resume(conn, cookie, 1_000_000, idle_s=3600) == ("otto", "operator")  # used: counts
        assert sessions.resume(conn, cookie, 1_000_000 + 3_500_000, idle_s=3600) == ("otto", "operator")
        assert sessions.resume(conn, cookie, 1_000_000 + 3_500_000 + 3_601_000, idle_s=3600) is None  # idle
        assert sessions.resume(conn, cookie, 1_000_000 + 3_500_000 + 3_602_000) is None  # and revoked
    finally:
        conn.close()


@pytest.mark.parametrize("origin, host, public, ok", [
    (None, "127.0.0.1:8501", None, True),                               # not a browser
    ("http://127.0.0.1:8501", "127.0.0.1:8501", None, True),            # the dashboard's own page
    ("http://localhost:8501", "localhost:8501", None, True),
    ("http://localhost:3000", "localhost:8501", None, False),           # another local app's page
    ("http://127.0.0.1:8502", "127.0.0.1:8501", None, False),
    ("https://evil.example", "127.0.0.1:8501", None, False),
    ("null", "127.0.0.1:8501", None, False),
    ("https://deck.example.com", "127.0.0.1:8501", "https://deck.example.com/", True),  # behind a proxy
    ("http://deck.example.com", "127.0.0.1:8501", "https://deck.example.com/", False),
])
def test_websocket_origin_table(origin, host, public, ok):
    assert origin_allowed(origin, host, public) is ok


def test_anonymous_role_defaults_to_viewer():
    assert DashboardConfig().anonymous_role == "viewer"


@pytest.mark.parametrize("https_request, public_url, secure", [
    (True, None, True), (False, None, False), (False, "http://deck.example", False),
    (False, "https://deck.example", True),  # TLS ends at a proxy: the cookie is still Secure
])
def test_cookies_are_secure_when_the_public_url_is_https(monkeypatch, https_request, public_url, secure):
    import serve
    monkeypatch.setitem(serve._CACHE, "public_url", public_url)
    assert serve._secure(https_request) is secure
