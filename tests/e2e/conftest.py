"""A real `streamlit run app.py` on a free port against a seeded store, and a headless Chromium page."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import requests
from playwright.sync_api import sync_playwright

from tests.seed import seed_config, seed_store

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
START_DEADLINE_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dashboard(NamedTuple):
    url: str
    store: Path


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """A dashboard serving the seeded store (its URL and store path); stopped after the module."""
    tmp = tmp_path_factory.mktemp("dashboard")
    store = tmp / "eventdeck.db"
    seed_store(store, int(time.time() * 1000))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTDECK_")}
    env["EVENTDECK_CONFIG"] = str(seed_config(tmp, store))
    log = open(tmp / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false",
                             "--server.fileWatcherType", "none"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_DEADLINE_S
    while True:
        try:
            if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start on {url}: {(tmp / 'streamlit.log').read_text()[-2000:]}")
        time.sleep(0.3)
    yield Dashboard(url, store)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `make system-deps` (apt-get install chromium)",
                    pytrace=False)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1440, "height": 2000})
    p = ctx.new_page()
    yield p
    ctx.close()


def settle(p, timeout_ms: int = 60_000) -> None:
    """Wait until the script run finished and every lazily loaded element (tables, metrics) is drawn."""
    p.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_ms)
    for _ in range(2):  # twice: a late element (fragment, rerun) may start loading after the first wait
        p.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)
        p.wait_for_function("document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0",
                            timeout=timeout_ms)
        p.wait_for_timeout(500)


def shoot(p, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    p.screenshot(path=str(path), full_page=True)
    return path
