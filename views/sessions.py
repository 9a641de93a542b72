"""Password sign-in without Streamlit: lockout kept in the store, every attempt audited, and sessions
the browser keeps in a signed, expiring, HttpOnly cookie.

Streamlit's script cannot set a cookie (it talks over a websocket), so a successful sign-in makes a
server-side session with a one-time handoff code; the browser is sent to ``/eventdeck/session?code=…``
(a route of ``serve.py``'s ``st.App``), which trades the code for the cookie and redirects back. Each
page reads the cookie from ``st.context.cookies``; sign-out revokes the session row.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Callable

from config.dashboard import DashboardConfig, hash_cost, verify_password
from store import audit
from store import auth as store_auth

COOKIE = "eventdeck_session"
# A random per-browser cookie serve.py sets on the first page load; the one-time sign-in code is bound to it,
# so a code can only be traded by the browser whose page asked for it (no login CSRF).
BROWSER_COOKIE = "eventdeck_browser"
HANDOFF_PATH = "/eventdeck/session"
HANDOFF_TTL_MS = 60_000

# Lockout is per (user, address): an attacker cannot lock a real operator out from elsewhere. On top, a
# global slow-down: past GLOBAL_FREE failed sign-ins a minute (all users, all addresses) every answer waits
# GLOBAL_STEP_S more per failure, up to GLOBAL_MAX_DELAY_S; and at most MAX_CONCURRENT_HASHES scrypt hashes
# (128 MiB-1 GiB each) run at once.
GLOBAL = "global"
GLOBAL_WINDOW_MS = 60_000
GLOBAL_FREE = 20
GLOBAL_STEP_S = 0.25
GLOBAL_MAX_DELAY_S = 5.0
MAX_CONCURRENT_HASHES = 2
HASH_WAIT_S = 10.0
LOOPBACK_ADDRESS = "loopback"  # Streamlit gives no address for a loopback client; it still gets its own limit
_HASHES = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _bound(code: str, browser: str | None) -> str:
    """What the store keeps of a handoff code: its hash bound to the browser cookie of the asking page."""
    return _sha(f"{code}|{browser or ''}")


def sign(key: bytes, token: str, expires_ms: int) -> str:
    """The cookie value: ``token.expires.mac`` (HMAC-SHA256 over token and expiry)."""
    mac = hmac.new(key, f"{token}.{expires_ms}".encode(), hashlib.sha256).hexdigest()
    return f"{token}.{expires_ms}.{mac}"


def unsign(key: bytes, value: str | None, now_ms: int) -> str | None:
    """The token of a well-signed, unexpired cookie value, else None (any input)."""
    if not isinstance(value, str) or len(value) > 300 or value.count(".") != 2:
        return None
    token, expires, mac = value.split(".")
    if not expires.isdigit() or len(expires) > 16:
        return None
    good = hmac.new(key, f"{token}.{expires}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(good, mac) or int(expires) <= now_ms:
        return None
    return token


@dataclass(frozen=True)
class Attempt:
    ok: bool
    message: str  # shown to the user
    role: str | None = None


def subjects(user: str, address: str | None) -> list[str]:
    """The lockout subject of an attempt (this user from this address) and the global one."""
    return [f"pair:{user[:256]}|{address or LOOPBACK_ADDRESS}", GLOBAL]


def slowdown_s(global_failures: int) -> float:
    """How long an answer waits when ``global_failures`` sign-ins failed in the last minute (pure)."""
    return min(GLOBAL_MAX_DELAY_S, max(0, global_failures - GLOBAL_FREE) * GLOBAL_STEP_S)


def costliest_hash(cfg: DashboardConfig) -> str:
    """The configured hash with the highest scrypt cost: an unknown user name is checked against it, so the
    time an answer takes never tells which users exist."""
    return max((u.password_hash for u in cfg.users), key=hash_cost)


def attempt(conn: sqlite3.Connection, cfg: DashboardConfig, user: str, password: str, address: str | None,
            now_ms: int, sleep: Callable[[float], None] = time.sleep) -> Attempt:
    """Check a password sign-in against the lockout and the users; records and audits the outcome
    (user, time, address, outcome — never the password).

    The attempt is recorded as a failure BEFORE the hash runs (a success removes it), so concurrent tries
    see each other and no more than ``login_max_failures`` of them ever reach the hash."""
    window_ms = int(cfg.lockout_s * 1000)
    pair, glob = subjects(user, address)
    detail = {"address": address}
    actor = user[:256] or "(empty)"
    store_auth.add_failure(conn, [pair, glob], now_ms, now_ms - window_ms)
    if store_auth.failures(conn, [pair], now_ms - window_ms)[pair] > cfg.login_max_failures:
        audit.record(conn, now_ms, actor, "auth.signin", "password", detail, "locked")
        return Attempt(False, f"Too many failed sign-ins; try again in {cfg.lockout_s / 60:.0f} minutes.")
    delay = slowdown_s(store_auth.failures(conn, [glob], now_ms - GLOBAL_WINDOW_MS)[glob])
    if delay > 0:
        sleep(delay)
    match = next((u for u in cfg.users if u.name == user), None)
    if not _HASHES.acquire(timeout=HASH_WAIT_S):
        audit.record(conn, now_ms, actor, "auth.signin", "password", detail, "busy")
        return Attempt(False, "Sign-in is busy; try again in a moment.")
    try:  # always hash once, at the costliest configured cost for an unknown user
        ok = verify_password(password, match.password_hash if match else costliest_hash(cfg))
    finally:
        _HASHES.release()
    if match is not None and ok:
        store_auth.clear_failures(conn, pair)
        store_auth.forget_failure(conn, glob, now_ms)
        audit.record(conn, now_ms, match.name, "auth.signin", "password", detail, "success")
        return Attempt(True, "", match.role)
    audit.record(conn, now_ms, actor, "auth.signin", "password", detail, "failure")
    return Attempt(False, "Unknown user or wrong password.")


def start(conn: sqlite3.Connection, user: str, role: str, address: str | None, now_ms: int, ttl_s: float,
          browser: str | None = None) -> str:
    """A new session; returns the one-time handoff code (valid a minute) that installs its cookie. The code
    is bound to ``browser`` (the asking page's :data:`BROWSER_COOKIE`): only that browser can trade it."""
    code = secrets.token_urlsafe(32)
    store_auth.create_session(conn, _sha(secrets.token_urlsafe(32)), user, role, address, now_ms,
                              now_ms + int(ttl_s * 1000), _bound(code, browser), now_ms + HANDOFF_TTL_MS)
    return code


def exchange(conn: sqlite3.Connection, code: object, now_ms: int, browser: str | None = None) -> tuple[str, int] | None:
    """Trade a live handoff code (used up either way) for the session cookie: (value, max-age s), or None.
    ``browser``: the trading request's :data:`BROWSER_COOKIE`; a code asked for by another browser fails."""
    if not isinstance(code, str) or not 0 < len(code) <= 100 or (browser is not None and len(browser) > 100):
        return None
    token = secrets.token_urlsafe(32)
    expires = store_auth.take_handoff(conn, _bound(code, browser), _sha(token), now_ms)
    if expires is None:
        return None
    return sign(store_auth.signing_key(conn), token, expires), max(1, (expires - now_ms) // 1000)


def resume(conn: sqlite3.Connection, cookie: str | None, now_ms: int, idle_s: float | None = None
           ) -> tuple[str, str] | None:
    """(user, role) of the live session a cookie carries, else None. With ``idle_s``, a session unused that
    long has ended (and is revoked); each resume counts as use."""
    if not cookie:
        return None
    token = unsign(store_auth.signing_key(conn), cookie, now_ms)
    found = store_auth.session(conn, _sha(token), now_ms, None if idle_s is None else int(idle_s * 1000)) \
        if token else None
    return None if found is None else (found["user"], found["role"])


def revoke(conn: sqlite3.Connection, cookie: str | None, actor: str, now_ms: int) -> bool:
    token = unsign(store_auth.signing_key(conn), cookie, now_ms) if cookie else None
    done = store_auth.revoke(conn, _sha(token), now_ms) if token else False
    audit.record(conn, now_ms, actor, "auth.signout", "password", {}, "revoked" if done else "no session")
    return done
