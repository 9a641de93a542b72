"""The one store handle: settings give one object every process, page, route and command opens the store
through; nothing outside ``store/`` and ``config/`` reads a path or URL of the store."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from config import load_settings
from store import db
from store.handle import POSTGRESQL, SQLITE, Store

ROOT = Path(__file__).resolve().parents[2]
OWNERS = ("store", "config")  # the packages that may spell the store's location
# tests of the settings themselves read the fields they validate
SETTINGS_TESTS = {"tests/unit/test_config.py", "tests/unit/test_store_postgres.py", "tests/unit/test_store_handle.py",
                  "tests/unit/test_config_secrets_echo.py"}
LOCATION_FIELDS = {"path", "url", "location"}


def _python_files():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith((".venv/", "build/", ".eventdeck/")) or "/." in f"/{rel}" or rel.split("/")[0] in OWNERS:
            continue
        if rel in SETTINGS_TESTS:
            continue
        yield rel, path


def store_location_reads(source: str) -> list[tuple[int, str]]:
    """(line, expression) of every ``<x>.store.path|url|location`` read in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and node.attr in LOCATION_FIELDS and isinstance(node.value, ast.Attribute)
                and node.value.attr == "store"):
            found.append((node.lineno, ast.unparse(node)))
    return found


@pytest.mark.parametrize("source, expected", [
    ("x = settings.store.path", ["settings.store.path"]),
    ("f(ctx.settings.store.url)", ["ctx.settings.store.url"]),
    ("st.store.location", ["st.store.location"]),
    ("settings.store.handle.display", []),
    ("store.path", []),  # a variable named store (a Store handle's own location is read inside store/)
    ("settings.store.lease_ttl_s", []),
])
def test_the_scan_finds_location_reads(source, expected):
    assert [e for _, e in store_location_reads(source)] == expected


def test_nothing_outside_store_and_config_reads_the_store_location():
    offenders = [f"{rel}:{line}: {expr}" for rel, path in _python_files()
                 for line, expr in store_location_reads(path.read_text(encoding="utf-8"))]
    assert not offenders, ("read the store through settings.store.handle (store/handle.py), not its path or URL:\n"
                           + "\n".join(offenders))


def test_the_scan_covers_the_callers():
    scanned = {rel for rel, _ in _python_files()}
    for must in ("serve.py", "views/signin.py", "views/common.py", "dlq/api.py", "dlq/__main__.py", "eventdeck/service.py"):
        assert must in scanned


def test_settings_give_one_handle():
    s = load_settings(environ={})
    h = s.store.handle
    assert (h.dialect, h.is_postgres, h.location, dict(h.options)) == (SQLITE, False, ".eventdeck/eventdeck.db", {})
    pg = load_settings(environ={"EVENTDECK_STORE__URL": "postgresql://ed@db.example:5432/ed",
                                "EVENTDECK_STORE__CA_FILE": "/etc/ed/ca.pem"}).store.handle
    assert (pg.dialect, pg.is_postgres) == (POSTGRESQL, True)
    assert dict(pg.options) == {"sslrootcert": "/etc/ed/ca.pem", "sslmode": "verify-full"}  # a CA means verify it
    explicit = load_settings(environ={"EVENTDECK_STORE__URL": "postgresql://ed@db/ed",
                                      "EVENTDECK_STORE__SSLMODE": "require"}).store.handle
    assert dict(explicit.options) == {"sslmode": "require"}


def test_display_never_shows_a_password():
    h = Store("postgresql://ed:hunter2@db:5432/ed")
    assert "hunter2" not in h.display and "hunter2" not in repr(h) and "hunter2" not in str(h)


def test_asking_whether_a_sqlite_store_exists_never_creates_it(tmp_path):
    h = Store.of(tmp_path / "sub" / "s.db")
    assert not h.exists()
    with pytest.raises(FileNotFoundError):
        h.reader()
    assert not (tmp_path / "sub" / "s.db").exists()


def test_exists_and_migrate_on_both_backends(store_location):
    h = Store.of(store_location)
    assert not h.exists()
    applied = h.migrate()
    assert applied and h.exists()
    with h.reading() as conn:
        h.require_migrated(conn)  # up to date: no error
        assert db.applied_migrations(conn) == applied
    with h.writing() as conn:
        conn.execute("INSERT INTO audit_log (ts_ms, actor, action, target, detail, outcome) "
                     "VALUES (1, 'a', 'b', 'c', '{}', 'ok')")
    with h.reading() as conn:
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 1
        assert h.size_bytes(conn)["store"] > 0


def test_a_migration_hint_never_shows_a_password(pg_store):
    h = Store(pg_store.replace("postgresql://postgres@", "postgresql://postgres:pw-not-shown@"))
    with Store(pg_store).reading() as conn:
        with pytest.raises(db.NotMigrated) as err:
            h.require_migrated(conn)
    assert "pw-not-shown" not in str(err.value)
