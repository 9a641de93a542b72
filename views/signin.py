"""Sign-in and roles: who is using the dashboard (none / password / OIDC) and what they may do.

``current_user`` shows the sign-in screen and stops the page when nobody is signed in;
``require_operator`` is the server-side check every operator-only action goes through.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from config import Settings
from config.dashboard import LOOPBACK, verify_password

_USER_KEY = "auth_user"
_FAILS_KEY = "auth_failures"


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


def _login_form(settings: Settings) -> None:
    cfg = settings.dashboard
    fails = st.session_state.get(_FAILS_KEY, 0)
    st.title("Eventdeck — sign in")
    if fails >= cfg.login_max_failures:
        st.error("Too many failed sign-ins in this session; reload the page later.")
        st.stop()
    with st.form("login"):
        name = st.text_input("User", key="login_user")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        match = next((u for u in cfg.users if u.name == name), None)
        # Always hash once so a wrong user name costs the same time as a wrong password.
        ok = verify_password(password, match.password_hash if match else cfg.users[0].password_hash)
        if match is not None and ok:
            st.session_state[_USER_KEY] = User(match.name, match.role)
            st.session_state.pop(_FAILS_KEY, None)
            st.rerun()
        st.session_state[_FAILS_KEY] = fails + 1
        if fails + 1 >= cfg.login_max_failures:
            st.rerun()  # shows the lockout instead of the form
        st.error("Unknown user or wrong password.")
    st.stop()


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
        name = str(st.user.get("email") or st.user.get("name") or "unknown")
        return User(name, "operator" if name in cfg.oidc_operators else "viewer")
    user = st.session_state.get(_USER_KEY)
    if not isinstance(user, User):
        _login_form(settings)
    return user


def sign_out(settings: Settings) -> None:
    if settings.dashboard.auth == "oidc":
        st.logout()
    st.session_state.pop(_USER_KEY, None)
