"""The layers of DESIGN.md, pinned on the AST: which project package may import which, and which packages
may use a broker client library or Streamlit. Every import counts, at module or function level.

Known debts (issue #28) are listed by module, not by package, so a new import of the same kind fails:
``config.check`` probes brokers for ``config check --connect`` (it belongs above ``config``).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package -> the project packages it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "config": {"core", "store"},  # config.store builds the one store handle (store.handle), lazily
    "brokers": {"config", "core"},
    "store": {"config", "core"},
    "runner": {"config", "core", "store"},
    "alerts": {"config", "core", "store"},
    "collectors": {"brokers", "config", "core", "instrument", "runner", "store"},
    "dlq": {"brokers", "config", "core", "runner", "store"},
    # views may ask brokers/ for its diagnostics (connection probe, crc32c check), never for a client
    "views": {"alerts", "brokers", "config", "core", "dlq", "store"},
    "app": {"views"},
    "serve": {"config", "core", "store", "views"},
}
# (module, package) edges allowed beyond ALLOWED, each a debt named in the module docstring
DEBTS = {("config.check", "brokers")}

CLIENT_LIBS = {"kafka", "pika", "rstream", "psycopg", "psycopg_pool"}
# packages that must not touch a broker or database client library directly
NO_CLIENTS = {"views", "alerts", "core", "app", "serve"}
# packages that run in the collector service or the CLI: never Streamlit
NO_STREAMLIT = {"collectors", "dlq", "alerts", "store", "runner", "brokers", "core", "config"}
PROJECT = set(ALLOWED) | {"instrument", "demo", "bench", "eventdeck", "tests", "scripts"}


def _sources() -> list[Path]:
    out = []
    for name in ALLOWED:
        path = ROOT / name
        out += sorted(path.rglob("*.py")) if path.is_dir() else [ROOT / f"{name}.py"]
    return [p for p in out if "build" not in p.parts]


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every absolute import in the file, nested ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def _violations(path: Path) -> list[str]:
    module = _module(path)
    package = module.split(".")[0]
    bad = []
    for line, imported in _imports(path):
        top = imported.split(".")[0]
        where = f"{path.relative_to(ROOT)}:{line} imports {imported}"
        if top in PROJECT and top != package and top not in ALLOWED[package] \
                and (module, top) not in DEBTS:
            bad.append(f"{where} ({package} may import only {sorted(ALLOWED[package])})")
        if package in NO_CLIENTS and top in CLIENT_LIBS:
            bad.append(f"{where} (a client library: build clients in brokers/ or store/)")
        if package in NO_STREAMLIT and top == "streamlit":
            bad.append(f"{where} (Streamlit belongs to views/, app.py and serve.py)")
    return bad


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_keeps_to_its_layer(path):
    assert _violations(path) == []


def test_the_checker_sees_a_forbidden_import(tmp_path, monkeypatch):
    """The check can fail: a view importing a collector, a collector importing Streamlit, an alert importing pika."""
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    cases = {
        "views/x.py": "def f():\n    from collectors import kafka\n",
        "collectors/y.py": "import streamlit as st\n",
        "alerts/z.py": "import pika.spec\n",
        "core/w.py": "from store import queries\n",
    }
    for rel, src in cases.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(src)
        assert len(_violations(tmp_path / rel)) == 1, rel


def test_debts_are_still_real():
    """A debt that was paid off is removed from DEBTS, so the list never excuses more than it must."""
    for module, package in DEBTS:
        path = ROOT / (module.replace(".", "/") + ".py")
        assert any(m.split(".")[0] == package for _, m in _imports(path)), (module, package)
