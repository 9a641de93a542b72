"""`instrument` is installed on its own by consumer apps: it imports nothing of the project (at module or
function level), only the standard library and the dependencies its pyproject declares, and those
declarations admit the versions the project pins in requirements.txt."""
from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "instrument"
PROJECT_PACKAGES = {"collectors", "store", "dlq", "alerts", "views", "config", "core", "brokers", "runner",
                    "demo", "bench", "tests", "app", "serve", "scripts", "eventdeck"}
# import name of each distribution instrument may use
IMPORT_NAMES = {"ddsketch": "ddsketch", "kafka-python": "kafka", "pika": "pika", "redis": "redis"}
MODULES = sorted(PKG.glob("*.py"))


def _pyproject() -> dict:
    return tomllib.loads((PKG / "pyproject.toml").read_text())


def _declared() -> list[Requirement]:
    project = _pyproject()["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return reqs


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every absolute import anywhere in the file, nested ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def test_every_project_top_level_package_is_in_the_forbidden_list():
    # a new top-level package of the project must not slip past the check below
    found = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()} | \
            {p.stem for p in ROOT.glob("*.py")}
    assert found - {"instrument"} <= PROJECT_PACKAGES, found - PROJECT_PACKAGES


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_imports_only_stdlib_its_own_modules_and_declared_deps(path):
    allowed_third_party = {IMPORT_NAMES[r.name] for r in _declared()}
    for line, top in _imports(path):
        assert top not in PROJECT_PACKAGES, f"{path.name}:{line} imports the project package {top!r}"
        assert top == "instrument" or top in sys.stdlib_module_names or top in allowed_third_party, \
            f"{path.name}:{line} imports {top!r}, which instrument/pyproject.toml does not declare"


def test_the_scan_sees_nested_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import os\ndef f():\n    from store.db import open_migrated\n    import collectors.kafka\n")
    assert _imports(f) == [(1, "os"), (3, "store"), (4, "collectors")]


def test_every_module_is_in_the_package():
    config = _pyproject()["tool"]["setuptools"]
    assert config["packages"] == ["instrument"] and config["package-dir"] == {"instrument": "."}
    assert {p.stem for p in MODULES} >= {"__init__", "timing", "summary", "sketch", "publisher", "idempotency",
                                         "dedup_sql", "retry", "breaker", "dlq_route", "dlt_headers"}


def test_declared_versions_admit_the_project_pins():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            pins[req.name.lower()] = next(iter(req.specifier)).version
    for req in _declared():
        assert req.name.lower() in pins, f"{req.name} is not pinned in requirements.txt"
        assert req.specifier.contains(pins[req.name.lower()]), \
            f"instrument declares {req}, the project pins {req.name}=={pins[req.name.lower()]}"
