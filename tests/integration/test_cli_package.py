"""`pip install .` gives a working `eventdeck` command in a fresh venv: `eventdeck --help` and
`eventdeck config check` on the example config succeed, and a bad config prints every problem with
its key and exits non-zero — run from outside the repository, so the installed copy is what runs.

Fast: `--no-deps`, and the fresh venv sees the shared venv's packages through a .pth file (the
dependencies are what requirements.txt pins there). The project is installed from a copy, so the
in-place build (build/, *.egg-info) never lands in the repository."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD = """\
stor:
  path: x.db
kafka:
  clusters:
    - name: "a b"
      bootstrap_servers: [localhost]
      interval_s: 0
dashboard:
  port: 0
"""
BAD_KEYS = ["stor: unknown key", "kafka.clusters[0].name", "kafka.clusters[0].bootstrap_servers",
            "kafka.clusters[0].interval_s", "dashboard.port"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("EVENTDECK_")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "tests", "test-artifacts", ".eventdeck", "build", "*.egg-info", "__pycache__", "*.db*"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=_env())
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "shared-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    t0 = time.perf_counter()
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", str(src)],
                       capture_output=True, text=True, env=_env(), timeout=300)
    print(f"pip install --no-deps .: {time.perf_counter() - t0:.1f} s")
    assert r.returncode == 0, r.stderr[-2000:]
    return venv


def _run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "eventdeck"), *args], capture_output=True, text=True,
                          cwd=cwd, env=_env(), timeout=120)


def test_help_lists_every_command(installed, tmp_path):
    r = _run(installed, "--help", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for cmd in ("run", "collect", "dashboard", "dlq", "config", "brokers", "store"):
        assert f"\n  {cmd} " in r.stdout


def test_runs_the_installed_copy(installed, tmp_path):
    r = subprocess.run([str(installed / "bin" / "python"), "-c", "import config, store.db as d; "
                        "print(config.__file__); print(len(list(d.MIGRATIONS_DIR.glob('*.sql'))))"],
                       capture_output=True, text=True, cwd=tmp_path, env=_env(), check=True)
    where, migrations = r.stdout.split()
    assert where.startswith(str(installed)) and int(migrations) == len(list((ROOT / "store/migrations").glob("*.sql")))


def test_config_check_example_is_ok(installed, tmp_path):
    r = _run(installed, "config", "check", str(ROOT / "config" / "eventdeck.example.yaml"), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith(": ok")


def test_config_check_prints_every_problem_with_its_key(installed, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    r = _run(installed, "config", "check", str(bad), cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert len(lines) == len(BAD_KEYS)
    for key in BAD_KEYS:
        assert sum(key in line for line in lines) == 1, (key, r.stdout)


def test_store_migrate_and_module_form(installed, tmp_path):
    r = _run(installed, "store", "migrate", "--store", str(tmp_path / "s.db"), cwd=tmp_path)
    assert r.returncode == 0 and "up to date" in r.stdout, r.stderr
    same = subprocess.run([str(installed / "bin" / "python"), "-m", "eventdeck", "--help"], capture_output=True,
                          text=True, cwd=tmp_path, env=_env())
    assert same.returncode == 0 and same.stdout == _run(installed, "--help", cwd=tmp_path).stdout


def test_dashboard_serves_from_any_directory(installed, tmp_path):
    """`eventdeck dashboard` serves the installed app.py (site-packages) from a directory with no checkout
    (Streamlit refuses to start when its main script is missing)."""
    import requests

    from demo.brokers import free_port
    from store.db import open_migrated

    open_migrated(tmp_path / "s.db").close()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"store:\n  path: {tmp_path / 's.db'}\n")
    port = free_port()
    proc = subprocess.Popen([str(installed / "bin" / "eventdeck"), "dashboard", "--config", str(cfg), "--port", str(port)],
                            cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).ok:
                    break
            except requests.RequestException:  # not listening yet, or too busy to answer in time (loaded machine)
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()[-2000:]
            time.sleep(0.3)
        assert requests.get(f"http://127.0.0.1:{port}/dlq", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.mark.parametrize("cmd", ["run", "collect", "dashboard", "dlq", "config", "brokers", "store"])
def test_each_command_has_its_help(installed, tmp_path, cmd):
    r = _run(installed, cmd, "--help", cwd=tmp_path)
    assert r.returncode == 0 and "usage:" in r.stdout, r.stdout + r.stderr
