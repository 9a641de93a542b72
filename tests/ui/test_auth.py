"""Sign-in and roles: password sign-in, viewer refusals checked on the server side and audited."""
from __future__ import annotations

from store import audit
from store.db import connect_reader
from tests import seed
from tests.ui.conftest import metrics, sign_in
from views.frames import md_escape
from views.registry import PAGES

VIEWER, OPERATOR = "vera", "otto"


def _password(user: str) -> str:
    return seed.USERS[user][1]


def test_password_mode_shows_only_the_sign_in_form(seeded):
    at = seeded(auth="password")
    assert at.title[0].value == "Eventdeck — sign in"
    assert not metrics(at)  # no data before sign-in
    sign_in(at, VIEWER, "wrong")
    assert any("wrong password" in e.value for e in at.error)
    assert at.title[0].value == "Eventdeck — sign in"


def test_viewer_signs_in_and_sees_pages(seeded):
    at = sign_in(seeded(auth="password"), VIEWER, _password(VIEWER))
    assert at.title[0].value == "Overview"
    assert any(f"**{VIEWER}** (viewer)" in c.value for c in at.caption)


def test_unknown_user_is_refused(seeded):
    at = sign_in(seeded(auth="password"), "mallory", _password(VIEWER))
    assert any("Unknown user or wrong password" in e.value for e in at.error)


def _submit_rule(at, name: str):
    at.switch_page("views/alerts.py").run()
    at.text_input(key="rule_name").input(name)
    next(b for b in at.button if b.label == "Save rule").click()
    return at.run()


def _audit(store):
    conn = connect_reader(store)
    try:
        return audit.read(conn)
    finally:
        conn.close()


def test_viewer_rule_change_is_refused_and_audited(seeded):
    at = sign_in(seeded(auth="password"), VIEWER, _password(VIEWER))
    at = _submit_rule(at, "viewer-rule")
    assert any("needs the operator role" in e.value for e in at.error)
    log = _audit(seeded.store)
    row = log[log["action"] == "alert_rule.save"].iloc[0]
    assert (row["actor"], row["outcome"], row["target"]) == (VIEWER, "refused", "viewer-rule")
    assert metrics(at)["Rules"] == "2"


def test_operator_rule_change_is_saved_and_audited(seeded):
    at = sign_in(seeded(auth="password"), OPERATOR, _password(OPERATOR))
    at = _submit_rule(at, "operator-rule")
    assert not at.exception and not at.error
    log = _audit(seeded.store)
    row = log[(log["action"] == "alert_rule.save") & (log["target"] == "operator-rule")].iloc[0]
    assert (row["actor"], row["outcome"]) == (OPERATOR, "ok")
    at.run()
    assert metrics(at)["Rules"] == "3"


def test_auth_none_refuses_a_non_loopback_bind(seeded):
    from streamlit import config

    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = seeded()
    finally:
        config.set_option("server.address", before)
    assert any("Refusing to serve without sign-in" in e.value for e in at.error)
    assert not metrics(at)


def test_oidc_roles_come_from_the_operator_list(seeded, monkeypatch):
    monkeypatch.setenv("EVENTDECK_DASHBOARD__OIDC_OPERATORS", '["ops@example.com"]')
    monkeypatch.setenv("EVENTDECK_DASHBOARD__OIDC__ALLOWED_DOMAINS", '["example.com"]')
    at = seeded(auth="oidc")
    assert at.title[0].value == "Eventdeck — sign in" and at.button[0].label == "Sign in"  # logged out
    for email, role in (("ops@example.com", "operator"), ("dev@example.com", "viewer")):
        at.user = {"is_logged_in": True, "email": email, "email_verified": True, "sub": "s-" + email}
        at.run()
        shown = f"**{md_escape(email)}** ({role})"  # an identity is shown escaped, never as Markdown
        assert any(shown in c.value for c in at.caption), [c.value for c in at.caption]


def test_oidc_identity_is_a_verified_email_never_a_name(seeded, monkeypatch):
    monkeypatch.setenv("EVENTDECK_DASHBOARD__OIDC_OPERATORS", '["ops@example.com"]')
    monkeypatch.setenv("EVENTDECK_DASHBOARD__OIDC__ALLOWED_DOMAINS", '["example.com"]')
    at = seeded(auth="oidc")
    for claims in ({"email": "ops@example.com", "email_verified": False, "sub": "x"},  # unverified
                   {"email": "ops@example.com", "sub": "x"},  # verification not asserted
                   {"name": "ops@example.com", "sub": "x"},  # a display name is never an identity
                   {"email": "ops@evil.example", "email_verified": True, "sub": "y"}):  # not an allowed domain
        at.user = {"is_logged_in": True, **claims}
        at.run()
        assert any("may not use Eventdeck" in e.value for e in at.error), claims
        assert not metrics(at) and not any("Signed in as" in c.value for c in at.caption), claims


def test_lockout_is_kept_in_the_store_across_sessions_and_sign_ins_are_audited(seeded, monkeypatch):
    monkeypatch.setenv("EVENTDECK_DASHBOARD__LOGIN_MAX_FAILURES", "2")
    at = seeded(auth="password")
    for _ in range(2):
        sign_in(at, VIEWER, "wrong")
    fresh = seeded(auth="password")  # a new browser session starts with no failures of its own
    sign_in(fresh, VIEWER, _password(VIEWER))
    assert any("Too many failed sign-ins" in e.value for e in fresh.error)
    assert fresh.title[0].value == "Eventdeck — sign in"
    other = sign_in(seeded(auth="password"), OPERATOR, _password(OPERATOR))  # per user: otto is not locked
    assert other.title[0].value == "Overview"
    log = _audit(seeded.store)
    rows = log[log["action"] == "auth.signin"].sort_values("id")
    assert [(r.actor, r.outcome) for r in rows.itertuples()] == [
        (VIEWER, "failure"), (VIEWER, "failure"), (VIEWER, "locked"), (OPERATOR, "success")]
    assert not any(_password(VIEWER) in str(d) or "wrong" in str(d) for d in rows["detail"])  # never a password


def _rendered(at) -> str:
    """Every text the page shows: headings, markdown, captions, alerts, metrics, code and table cells."""
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "code", "text", "info",
                                  "warning", "error", "success") for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [d.value.to_string() for d in at.dataframe]
    return "\n".join(parts)


def test_no_secret_or_password_hash_on_any_page(seeded, monkeypatch):
    secret_value = "s3cr3t-rabbit-pw"
    monkeypatch.setenv("EVENTDECK_RABBITMQ_PASSWORD", secret_value)
    at = sign_in(seeded(auth="password"), OPERATOR, _password(OPERATOR))
    for page in PAGES:
        at.switch_page(page.path).run()
        shown = _rendered(at)
        assert not at.exception, page.title
        assert secret_value not in shown, page.title
        assert "scrypt$" not in shown and _password(OPERATOR) not in shown, page.title


def test_config_error_page_names_the_key_but_not_the_hash(seeded, monkeypatch):
    weak = "scrypt$16384$8$1$c3Nzc3Nzc3Nzc3Nzc3Nzcw==$ZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGQ="
    monkeypatch.setenv("EVENTDECK_DASHBOARD__USERS", f'[{{name: a, role: operator, password_hash: "{weak}"}}]')
    at = seeded(auth="password")
    shown = _rendered(at)
    assert "Configuration error" in shown and "dashboard.users[0].password_hash" in shown
    assert "scrypt$16384" not in shown and "c3Nzc3Nz" not in shown
