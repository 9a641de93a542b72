"""The layers of DESIGN.md, pinned on the AST: which project package may import which, and which packages
may use a broker client library or Streamlit. Every import counts, at module or function level, and every
import is an import statement: no project module is loaded by its name as a string (``importlib``), which
would hide an edge from this check.

``eventdeck`` sits on top: the commands and the composition root (``eventdeck.service`` builds the collector
service from the collectors, the DLQ jobs and the alert evaluator). A package's ``__main__`` is an entry point
from a shell (``python -m collectors``): it may also hand over to ``eventdeck``, and no module imports it
but ``eventdeck.cli``, which runs each command's ``main``.

Known debts are listed by module, not by package, so a new import of the same kind fails (none left).
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
    # local brokers and the traffic simulator (an instrumented app); screenshots walk the page registry
    "demo": {"brokers", "core", "instrument", "views"},
    # the commands and the composition root: everything below them (never the dashboard's pages or tests)
    "eventdeck": {"alerts", "brokers", "collectors", "config", "core", "demo", "dlq", "runner", "store"},
}
ENTRY = "__main__"  # pkg.__main__ may import ALLOWED[pkg] and eventdeck
# (module, package) edges allowed beyond ALLOWED, each a debt named in the module docstring
DEBTS: set[tuple[str, str]] = set()
# modules that load modules by name, and why (never a project module)
NAME_LOADERS = {"dlq.schema_codec": "google.protobuf's well-known types, by the name a schema gives"}

CLIENT_LIBS = {"kafka", "pika", "rstream", "psycopg", "psycopg_pool"}
# packages that must not touch a broker or database client library directly
NO_CLIENTS = {"views", "alerts", "core", "app", "serve", "eventdeck"}
# packages that run in the collector service or the CLI: never Streamlit
NO_STREAMLIT = {"collectors", "dlq", "alerts", "store", "runner", "brokers", "core", "config", "eventdeck"}
PROJECT = set(ALLOWED) | {"instrument", "bench", "tests", "scripts"}


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


def _name_loads(path: Path) -> list[int]:
    """Lines that load a module by its name: ``importlib.import_module(...)``, ``__import__(...)``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__"):
                out.append(node.lineno)
    return out


def _violations(path: Path) -> list[str]:
    module = _module(path)
    package = module.split(".")[0]
    allowed = ALLOWED[package] | ({"eventdeck"} if module.endswith("." + ENTRY) else set())
    bad = []
    for line, imported in _imports(path):
        top = imported.split(".")[0]
        where = f"{path.relative_to(ROOT)}:{line} imports {imported}"
        if top in PROJECT and top != package and top not in allowed \
                and (module, top) not in DEBTS:
            bad.append(f"{where} ({package} may import only {sorted(allowed)})")
        if imported.endswith("." + ENTRY) and module != "eventdeck.cli":
            bad.append(f"{where} (an entry point: import the module it runs, not the __main__)")
        if package in NO_CLIENTS and top in CLIENT_LIBS:
            bad.append(f"{where} (a client library: build clients in brokers/ or store/)")
        if package in NO_STREAMLIT and top == "streamlit":
            bad.append(f"{where} (Streamlit belongs to views/, app.py and serve.py)")
    if module not in NAME_LOADERS:
        bad += [f"{path.relative_to(ROOT)}:{line} loads a module by name (import it, so this check sees the edge)"
                for line in _name_loads(path)]
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
        "runner/v.py": "import importlib\nJOBS = [importlib.import_module(m) for m in ('collectors.kafka',)]\n",
        "collectors/u.py": "from eventdeck.service import build_service\n",  # only its __main__ may
        "dlq/t.py": "from config.__main__ import main\n",
    }
    for rel, src in cases.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(src)
        assert len(_violations(tmp_path / rel)) == 1, rel
    (tmp_path / "collectors/__main__.py").write_text("from eventdeck.collect import main\n")
    assert _violations(tmp_path / "collectors/__main__.py") == []


def test_debts_are_still_real():
    """A debt that was paid off is removed from DEBTS, so the list never excuses more than it must."""
    for module, package in DEBTS:
        path = ROOT / (module.replace(".", "/") + ".py")
        assert any(m.split(".")[0] == package for _, m in _imports(path)), (module, package)
    for module in NAME_LOADERS:
        assert _name_loads(ROOT / (module.replace(".", "/") + ".py")), module
