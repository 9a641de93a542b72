"""Sign-in and roles: who is using the dashboard (none / password / OIDC) and what they may do.

``current_user`` shows the sign-in screen and stops the page when nobody is signed in;
``require_operator`` is the server-side check every operator-only action goes through.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import streamlit as st

from config import Settings
from config.dashboard import LOOPBACK
from core.clock import now_ms
from views import sessions

_USER_KEY = "auth_user"
_HANDOFF_KEY = "auth_handoff"
_COOKIE_KEY = "auth_cookie"  # the session cookie this Streamlit session's user came from


@dataclass(frozen=True)
class User:
    name: str
    role: str  # "viewer" | "operator"

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


class NotAllowed(PermissionError):
    """An operator-only action was attempted by a viewer."""


def require_operator(user: User, action: str) -> None:
    """Server-side role check for operator-only actions; raises ``NotAllowed`` for viewers."""
    if not user.is_operator:
        raise NotAllowed(f"{action} needs the operator role; {user.name} is a {user.role}")


def _address() -> str | None:
    """The client address where Streamlit knows it (behind a proxy: the proxy's); Streamlit gives None for a
    loopback client, which gets ``loopback`` so the per-(user, address) limit still applies to it."""
    try:
        ip = st.context.ip_address
        connected = st.context.headers is not None and len(st.context.headers) > 0
    except (AttributeError, RuntimeError):  # AppTest and bare runs have no request context
        return None
    if ip is None:
        return sessions.LOOPBACK_ADDRESS if connected else None
    return ip if isinstance(ip, str) and len(ip) <= 64 else None


def _writer(settings: Settings):
    """A writer on the store for sign-in state; the page stops saying why when the store is not ready
    (sessions, lockouts and the audit log live there; only the collector service creates and migrates it)."""
    from store.db import NotMigrated
    from store.handle import unreachable_errors

    store = settings.store.handle  # SQLite or PostgreSQL, as configured
    if not store.is_postgres and not store.exists():  # asking never creates the file
        st.error("Sign-in is not possible yet: the store has not been created — start the collector service "
                 "(`python -m collectors`).")
        st.stop()
    try:
        conn = store.writer()
    except unreachable_errors():
        st.error("Sign-in is not possible now: the store is unreachable; try again in a moment.")
        st.stop()
    try:
        store.require_migrated(conn)
    except NotMigrated as exc:
        conn.close()
        st.error(f"Sign-in is not possible yet: {exc}.")
        st.stop()
    return conn


def _cookie(name: str = sessions.COOKIE) -> str | None:
    try:
        value = st.context.cookies.get(name)
    except (AttributeError, RuntimeError):  # no request context (AppTest)
        return None
    return value if isinstance(value, str) else None


def _login_form(settings: Settings) -> None:
    cfg = settings.dashboard
    st.title("Eventdeck — sign in")
    with st.form("login"):
        name = st.text_input("User", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        conn = _writer(settings)
        try:
            result = sessions.attempt(conn, cfg, name, password, _address(), now_ms())
            if result.ok:
                st.session_state[_USER_KEY] = User(name, result.role or "viewer")
                st.session_state[_HANDOFF_KEY] = sessions.start(conn, name, result.role or "viewer", _address(),
                                                                now_ms(), cfg.session_ttl_s,
                                                                _cookie(sessions.BROWSER_COOKIE))
                st.rerun()
        finally:
            conn.close()
        st.error(result.message)
    st.stop()


def oidc_identity(claims: dict, cfg) -> str | None:
    """The identity an OIDC sign-in may use: the verified e-mail, else ``sub``; None when the allow-lists
    (dashboard.oidc.allowed_emails/allowed_domains/allowed_subjects) do not admit it. A name never is one."""
    email = claims.get("email")
    verified = claims.get("email_verified") is True
    identity = str(email).strip().lower() if verified and isinstance(email, str) and email else None
    sub = claims.get("sub") if isinstance(claims.get("sub"), str) and claims.get("sub") else None
    allow = cfg.oidc
    if identity is not None:
        domain = identity.rpartition("@")[2]
        if identity in {e.lower() for e in allow.allowed_emails} or domain in {d.lower() for d in allow.allowed_domains}:
            return identity
    if sub is not None and sub in allow.allowed_subjects:
        return sub
    return None


def current_user(settings: Settings) -> User:
    """The signed-in user; shows the sign-in screen and stops the page when there is none."""
    cfg = settings.dashboard
    if cfg.auth == "none":
        bound = st.get_option("server.address")
        if bound not in LOOPBACK:
            st.error(f"Refusing to serve without sign-in: dashboard.auth is 'none' but the server is bound to "
                     f"{bound or 'all interfaces'}; bind to 127.0.0.1 or configure dashboard.auth.")
            st.stop()
        return User("local", cfg.anonymous_role)
    if cfg.auth == "oidc":
        if not st.user.get("is_logged_in", False):
            st.title("Eventdeck — sign in")
            st.button("Sign in", on_click=st.login, args=(cfg.oidc_provider,) if cfg.oidc_provider else ())
            st.stop()
        identity = oidc_identity(dict(st.user.to_dict()) if hasattr(st.user, "to_dict") else dict(st.user), cfg)
        if identity is None:
            st.title("Eventdeck — sign in")
            st.error("This account may not use Eventdeck (no verified e-mail or subject in dashboard.oidc).")
            st.button("Sign out", on_click=st.logout)
            st.stop()
        operators = {o.lower() for o in cfg.oidc_operators}
        return User(identity, "operator" if identity.lower() in operators else "viewer")
    user = st.session_state.get(_USER_KEY)
    cookie = _cookie()
    if cookie and (not isinstance(user, User) or st.session_state.get(_COOKIE_KEY) == cookie):
        # Every run re-checks a cookie session: one revoked (signed out in another tab) or expired ends here.
        conn = _writer(settings)
        try:
            found = sessions.resume(conn, cookie, now_ms(), cfg.idle_timeout_s)
        finally:
            conn.close()
        configured = {u.name: u.role for u in cfg.users}
        if found is not None and found[0] in configured:
            user = st.session_state[_USER_KEY] = User(found[0], configured[found[0]])  # the configured role now
            st.session_state[_COOKIE_KEY] = cookie
            return user
        if isinstance(user, User):
            st.session_state.pop(_USER_KEY, None)
            st.session_state.pop(_COOKIE_KEY, None)
            user = None
    if not isinstance(user, User):
        _login_form(settings)
    code = st.session_state.pop(_HANDOFF_KEY, None)
    if code:  # just signed in: have the browser install the session cookie (a reload or a link stays signed in)
        url = f"{sessions.HANDOFF_PATH}?code={code}"
        st.html(f"<script>window.location.replace({json.dumps(url)});</script>", unsafe_allow_javascript=True)
    return user


def sign_out(settings: Settings) -> None:
    if settings.dashboard.auth == "oidc":
        st.logout()
    user = st.session_state.pop(_USER_KEY, None)
    st.session_state.pop(_HANDOFF_KEY, None)
    st.session_state.pop(_COOKIE_KEY, None)
    if settings.dashboard.auth == "password":
        conn = _writer(settings)
        try:
            sessions.revoke(conn, _cookie(), user.name if isinstance(user, User) else "unknown", now_ms())
        finally:
            conn.close()
