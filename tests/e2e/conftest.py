"""A real `streamlit run serve.py` (st.App serving app.py) on a free port against a seeded store, and a headless Chromium page."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import requests
from playwright.sync_api import sync_playwright

from demo.brokers import free_port
from demo.screenshots import ARGS, CHROMIUM
from tests.seed import seed_config, seed_store

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
START_DEADLINE_S = 60


class Dashboard(NamedTuple):
    url: str
    store: Path


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """A dashboard serving the seeded store (its URL and store path); stopped after the module."""
    with serve(tmp_path_factory.mktemp("dashboard")) as d:
        yield d


@pytest.fixture(scope="module")
def password_dashboard(tmp_path_factory):
    """The same with password sign-in (tests.seed.USERS)."""
    with serve(tmp_path_factory.mktemp("dashboard"), auth="password") as d:
        yield d


@contextlib.contextmanager
def serve(tmp: Path, auth: str = "none"):
    """`streamlit run serve.py` on a free port against a freshly seeded store."""
    store = tmp / "eventdeck.db"
    seed_store(store, int(time.time() * 1000))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTDECK_")}
    env["EVENTDECK_CONFIG"] = str(seed_config(tmp, store, auth=auth))
    with open(tmp / "streamlit.log", "wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "serve.py", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false",
                                 "--server.fileWatcherType", "none"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or its first answer is slow
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start on {url}: {(tmp / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield Dashboard(url, store)
    finally:  # also when it never came up: stop and reap it
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `make system-deps` (apt-get install chromium)",
                    pytrace=False)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1440, "height": 2000})
    p = ctx.new_page()
    yield p
    ctx.close()


def shoot(p, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    p.screenshot(path=str(path), full_page=True)
    return path
