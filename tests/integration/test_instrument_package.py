"""`pip install ./instrument` works in a clean venv with only instrument's own dependencies, and the
installed package works from outside the repository: every module imports, a handler call is timed,
its summary survives the wire format.

The install resolves ddsketch from the package index (pip's cache makes a re-run quick). The
directory is installed from a copy so the in-place build (build/, *.egg-info) never lands in the
repository; the copy also proves the directory needs nothing outside itself."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(f"instrument.{p.stem}" for p in (ROOT / "instrument").glob("*.py") if p.stem != "__init__")

PROBE = textwrap.dedent("""
    import importlib, json, sys, sysconfig
    from importlib import metadata
    modules = sys.argv[1:]
    files = {m: importlib.import_module(m).__file__ for m in ["instrument"] + modules}
    from instrument.timing import Recorder
    from instrument.summary import decode_summary, encode_summary
    rec = Recorder("payment", broker="kafka", cluster="shop", clock_ms=lambda: 1_000)

    @rec.timed
    def handle(x):
        if x == 3:
            raise KeyError(x)
        return x

    raised = 0
    for i in range(5):
        try:
            handle(i)
        except KeyError:
            raised += 1
    back = decode_summary(encode_summary(rec.swap()))
    try:
        import store  # the project must not be importable from here
        project_visible = True
    except ModuleNotFoundError:
        project_visible = False
    print(json.dumps({
        "files": files, "purelib": sysconfig.get_paths()["purelib"],
        "raised": raised, "count": back.count, "errors": back.errors, "consumer": back.consumer,
        "p50_positive": back.sketch.get_quantile_value(0.5) >= 0,
        "dists": sorted(d.metadata["Name"].lower() for d in metadata.distributions()),
        "project_visible": project_visible}))
""")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def test_pip_install_of_the_instrument_directory_in_a_fresh_venv(tmp_path):
    src = tmp_path / "instrument"
    shutil.copytree(ROOT / "instrument", src, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    venv = tmp_path / "venv"
    env = _clean_env()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=env, cwd=tmp_path)
    py = venv / "bin" / "python"
    pip = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", str(src)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]

    elsewhere = tmp_path / "app"  # cwd outside the repository (and not beside the copy): `-c` puts it on sys.path
    elsewhere.mkdir()
    run = subprocess.run([str(py), "-c", PROBE, *MODULES], capture_output=True, text=True, timeout=120,
                         env=env, cwd=elsewhere)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)

    site = Path(out["purelib"]).resolve()
    for module, file in out["files"].items():
        path = Path(file).resolve()
        assert path.is_relative_to(site), f"{module} came from {path}, not the venv's {site}"
        assert not path.is_relative_to(ROOT), f"{module} came from the repository"
    assert set(out["files"]) == {"instrument", *MODULES}
    assert out["raised"] == 1  # the decorator re-raises
    assert (out["count"], out["errors"], out["consumer"], out["p50_positive"]) == (5, {"KeyError": 1}, "payment", True)
    assert out["project_visible"] is False
    # only instrument and its one runtime dependency (ddsketch, which needs six), besides the venv's own tools
    assert set(out["dists"]) - {"pip", "setuptools", "wheel"} == {"eventdeck-instrument", "ddsketch", "six"}
