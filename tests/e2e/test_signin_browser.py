"""Sign-in in a real browser: the session cookie survives a reload and an opened link (HttpOnly, so page
scripts cannot read it), sign-out revokes it, and a foreign Host header (DNS rebinding) is refused."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
import requests

from store import audit
from store.db import connect_reader
from tests import seed
from tests.conftest import STORE_BACKENDS
from tests.e2e.conftest import session_cookie, shoot
from views import sessions

USER = "otto"


def _sign_in(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("textbox", name="User").fill(USER)
    page.get_by_role("textbox", name="Password").fill(seed.USERS[USER][1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as").wait_for(timeout=30_000)


def test_signed_in_user_stays_signed_in_across_reload_and_links(password_dashboard, page):
    _sign_in(page, password_dashboard.url)
    page.wait_for_url(f"{password_dashboard.url}/", timeout=30_000)  # back from the cookie handoff
    page.get_by_text("Signed in as").wait_for(timeout=30_000)
    cookie = session_cookie(page.context)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    assert page.evaluate("document.cookie").find("eventdeck_session") < 0  # invisible to page scripts
    page.reload()
    page.get_by_text("Signed in as").wait_for(timeout=30_000)
    page.goto(f"{password_dashboard.url}/dlq")  # a link, as an alert notification carries
    page.get_by_text("Signed in as").wait_for(timeout=30_000)
    page.set_content(f'<a id="open" href="{password_dashboard.url}/alerts">alert</a>')  # from another site (chat)
    page.click("#open")
    page.get_by_text("Signed in as").wait_for(timeout=30_000)
    page.locator('h1:has-text("Alerts")').wait_for(timeout=30_000)
    shoot(page, "signin-kept-after-link")
    other = page.context.new_page()  # a second tab of the same browser: same cookie, own Streamlit session
    other.goto(f"{password_dashboard.url}/kafka")
    other.get_by_text("Signed in as").wait_for(timeout=30_000)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    other.get_by_role("link", name="Alerts").click()  # its next run finds the session revoked
    other.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    other.close()
    page.reload()  # the cookie is still in the browser, but its session is revoked
    page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    shoot(page, "signin-after-signout-reload")
    conn = connect_reader(password_dashboard.store)
    try:
        log = audit.read(conn, action_prefix="auth.")
    finally:
        conn.close()
    assert {(r.actor, r.action, r.outcome) for r in log.itertuples()} >= {
        (USER, "auth.signin", "success"), (USER, "auth.signout", "revoked")}


def test_foreign_host_header_is_refused(password_dashboard):
    url = password_dashboard.url
    port = urlsplit(url).port
    assert requests.get(url, timeout=10).status_code == 200
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}"):
        r = requests.get(url, headers={"Host": host}, timeout=10)
        assert r.status_code == 421, host
        r = requests.get(f"{url}/_stcore/health", headers={"Host": host}, timeout=10)
        assert r.status_code == 421, host
    assert requests.get(url, headers={"Host": f"localhost:{port}"}, timeout=10).status_code == 200


def _handshake(url: str, host: str, origin: str | None = None) -> str:
    """The status line a websocket upgrade of Streamlit's stream gets with ``host`` as Host header (and
    ``origin`` as Origin, if given)."""
    import base64
    import os
    import socket

    parts = urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (f"GET /_stcore/stream HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: streamlit\r\n"
               + (f"Origin: {origin}\r\n" if origin else "") + "\r\n")
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request.encode())
        return sock.recv(4096).split(b"\r\n", 1)[0].decode()


def test_foreign_host_websocket_is_refused(password_dashboard):
    port = urlsplit(password_dashboard.url).port
    assert " 101 " in _handshake(password_dashboard.url, f"127.0.0.1:{port}")  # the genuine host is served
    assert " 403 " in _handshake(password_dashboard.url, f"evil.example:{port}")


def _outcomes(store, user: str) -> list[str]:
    conn = connect_reader(store)
    try:
        log = audit.read(conn, action_prefix="auth.signin")
    finally:
        conn.close()
    return [r.outcome for r in log.sort_values("id").itertuples() if r.actor == user]


def _attempt(page, store, user: str, password: str) -> str:
    """Submit the form once and wait until the store has audited that attempt; returns its outcome."""
    before = len(_outcomes(store, user))
    page.get_by_role("textbox", name="User").fill(user)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    deadline = time.monotonic() + 30
    while len(got := _outcomes(store, user)) == before:
        assert time.monotonic() < deadline, "the sign-in attempt was never audited"
        time.sleep(0.2)
    return got[-1]


def test_repeated_wrong_passwords_lock_the_user_out(password_dashboard, page):
    """Lockout in the browser, kept in the configured store (SQLite or PostgreSQL)."""
    user = "vera"  # not the user the other tests of this module sign in with
    page.goto(password_dashboard.url)
    page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    for _ in range(5):  # dashboard.login_max_failures (default 5)
        assert _attempt(page, password_dashboard.store, user, "wrong") == "failure"
    # the right password, too late
    assert _attempt(page, password_dashboard.store, user, seed.USERS[user][1]) == "locked"
    page.get_by_text("Too many failed sign-ins").wait_for(timeout=30_000)
    shoot(page, "signin-locked-out")


@pytest.mark.parametrize("backend", STORE_BACKENDS)
def test_an_anonymous_session_request_creates_no_store(tmp_path, request, backend):
    """`/eventdeck/session` without a code (or with a forged one) before the collector service made the store
    hands nothing over and creates nothing: no SQLite file, no PostgreSQL schema."""
    from store.handle import Store
    from tests.e2e.conftest import serve

    drop = None
    if backend == "sqlite":
        store = tmp_path / "never" / "eventdeck.db"
    else:
        from tests.conftest import _pg_schema

        store, drop = _pg_schema(request.getfixturevalue("pg_database"))
    try:
        with serve(tmp_path, auth="password", store=store, seed=False) as d:
            for query in ("", "?code=forged"):
                r = requests.get(f"{d.url}/eventdeck/session{query}", allow_redirects=False, timeout=10)
                # no session cookie (the browser cookie that binds a sign-in code to this browser is no session)
                assert r.status_code == 303 and sessions.COOKIE not in r.cookies, query
            assert requests.get(d.url, timeout=10).status_code == 200
        assert not Store.of(store).exists()
        if backend == "sqlite":
            assert not store.parent.exists()
    finally:
        if drop is not None:
            drop()


def test_foreign_origin_websocket_is_refused(password_dashboard):
    """Issue #23: a page served from localhost on another port (the Host guard holds for it) may not open
    the dashboard's session websocket; the dashboard's own origin may."""
    port = urlsplit(password_dashboard.url).port
    host = f"127.0.0.1:{port}"
    assert " 101 " in _handshake(password_dashboard.url, host, f"http://{host}")
    for origin in (f"http://127.0.0.1:{port + 1}", "http://localhost:3000", "https://evil.example", "null"):
        assert " 403 " in _handshake(password_dashboard.url, host, origin), origin


def test_browser_cookie_is_set_and_a_code_from_another_browser_is_refused(password_dashboard):
    """Login CSRF: the one-time code only works with the browser cookie of the page that asked for it."""
    r = requests.get(password_dashboard.url, timeout=10)
    assert "eventdeck_browser" in r.cookies and "HttpOnly" in r.headers.get("set-cookie", "")
    from views import sessions
    from store.db import connect_writer
    conn = connect_writer(password_dashboard.store)
    try:
        code = sessions.start(conn, "otto", "operator", None, int(__import__("time").time() * 1000), 600,
                              browser="attacker")
    finally:
        conn.close()
    r = requests.get(f"{password_dashboard.url}{sessions.HANDOFF_PATH}", params={"code": code},
                     cookies={"eventdeck_browser": "victim"}, allow_redirects=False, timeout=10)
    assert r.status_code == 303 and sessions.COOKIE not in r.cookies
