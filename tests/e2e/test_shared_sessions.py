"""Two dashboard processes (two real `streamlit run serve.py`) behind one PostgreSQL store share sign-ins: a
session made on one is valid on the other, and signing out on one ends it on both."""
from __future__ import annotations

from urllib.parse import urlsplit

from store import audit
from store.db import connect_reader
from tests import seed
from tests.conftest import _pg_schema
from tests.e2e.conftest import serve, session_cookie, shoot

USER = "otto"


def test_a_session_made_on_one_dashboard_is_valid_on_the_other(pg_database, tmp_path, browser):
    url, drop = _pg_schema(pg_database)
    try:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        with serve(tmp_path / "a", auth="password", store=url) as a, \
                serve(tmp_path / "b", auth="password", store=url, seed=False) as b:
            ctx = browser.new_context(viewport={"width": 1440, "height": 1200})
            try:
                pa = ctx.new_page()
                pa.goto(a.url)
                pa.get_by_role("textbox", name="User").fill(USER)
                pa.get_by_role("textbox", name="Password").fill(seed.USERS[USER][1])
                pa.get_by_role("button", name="Sign in").click()
                pa.wait_for_url(f"{a.url}/", timeout=30_000)
                pa.get_by_text("Signed in as").wait_for(timeout=30_000)
                cookie = session_cookie(ctx)
                # B under another host name, so the browser would not send A's cookie by itself: hand it over
                b_url = f"http://localhost:{urlsplit(b.url).port}"
                ctx.add_cookies([{**{k: cookie[k] for k in ("name", "value", "path", "httpOnly", "sameSite")},
                                  "domain": "localhost", "expires": cookie["expires"]}])
                pb = ctx.new_page()
                pb.goto(f"{b_url}/kafka")
                pb.get_by_text("Signed in as").wait_for(timeout=30_000)  # B knows A's session: same store
                shoot(pb, "shared-session-on-second-dashboard")
                pb.get_by_role("button", name="Sign out").click()  # signing out on B…
                pb.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
                pa.reload()  # …ends the session on A as well
                pa.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
            finally:
                ctx.close()
        conn = connect_reader(url)
        try:
            log = audit.read(conn, action_prefix="auth.")
        finally:
            conn.close()
        assert {(r.actor, r.action, r.outcome) for r in log.itertuples()} >= {
            (USER, "auth.signin", "success"), (USER, "auth.signout", "revoked")}
    finally:
        drop()
