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
from dataclasses import dataclass

from config.dashboard import DashboardConfig, verify_password
from store import audit
from store import auth as store_auth

COOKIE = "eventdeck_session"
HANDOFF_PATH = "/eventdeck/session"
HANDOFF_TTL_MS = 60_000


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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
    return [f"user:{user[:256]}"] + ([f"address:{address}"] if address else [])


def attempt(conn: sqlite3.Connection, cfg: DashboardConfig, user: str, password: str, address: str | None,
            now_ms: int) -> Attempt:
    """Check a password sign-in against the lockout and the users; records and audits the outcome
    (user, time, address, outcome — never the password)."""
    window_ms = int(cfg.lockout_s * 1000)
    subs = subjects(user, address)
    counts = store_auth.failures(conn, subs, now_ms - window_ms)
    detail = {"address": address}
    if max(counts.values()) >= cfg.login_max_failures:
        audit.record(conn, now_ms, user[:256] or "(empty)", "auth.signin", "password", detail, "locked")
        return Attempt(False, f"Too many failed sign-ins; try again in {cfg.lockout_s / 60:.0f} minutes.")
    match = next((u for u in cfg.users if u.name == user), None)
    # Always hash once so a wrong user name costs the same time as a wrong password.
    ok = verify_password(password, match.password_hash if match else cfg.users[0].password_hash)
    if match is not None and ok:
        store_auth.clear_failures(conn, subs[0])
        audit.record(conn, now_ms, match.name, "auth.signin", "password", detail, "success")
        return Attempt(True, "", match.role)
    store_auth.add_failure(conn, subs, now_ms, now_ms - window_ms)
    audit.record(conn, now_ms, user[:256] or "(empty)", "auth.signin", "password", detail, "failure")
    return Attempt(False, "Unknown user or wrong password.")


def start(conn: sqlite3.Connection, user: str, role: str, address: str | None, now_ms: int, ttl_s: float) -> str:
    """A new session; returns the one-time handoff code (valid a minute) that installs its cookie."""
    code = secrets.token_urlsafe(32)
    store_auth.create_session(conn, _sha(secrets.token_urlsafe(32)), user, role, address, now_ms,
                              now_ms + int(ttl_s * 1000), _sha(code), now_ms + HANDOFF_TTL_MS)
    return code


def exchange(conn: sqlite3.Connection, code: object, now_ms: int) -> tuple[str, int] | None:
    """Trade a live handoff code (used up either way) for the session cookie: (value, max-age s), or None."""
    if not isinstance(code, str) or not 0 < len(code) <= 100:
        return None
    token = secrets.token_urlsafe(32)
    expires = store_auth.take_handoff(conn, _sha(code), _sha(token), now_ms)
    if expires is None:
        return None
    return sign(store_auth.signing_key(conn), token, expires), max(1, (expires - now_ms) // 1000)


def resume(conn: sqlite3.Connection, cookie: str | None, now_ms: int) -> tuple[str, str] | None:
    """(user, role) of the live session a cookie carries, else None."""
    if not cookie:
        return None
    token = unsign(store_auth.signing_key(conn), cookie, now_ms)
    found = store_auth.session(conn, _sha(token), now_ms) if token else None
    return None if found is None else (found["user"], found["role"])


def revoke(conn: sqlite3.Connection, cookie: str | None, actor: str, now_ms: int) -> bool:
    token = unsign(store_auth.signing_key(conn), cookie, now_ms) if cookie else None
    done = store_auth.revoke(conn, _sha(token), now_ms) if token else False
    audit.record(conn, now_ms, actor, "auth.signout", "password", {}, "revoked" if done else "no session")
    return done
