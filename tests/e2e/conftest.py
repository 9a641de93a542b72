"""A real `streamlit run serve.py` (st.App serving app.py) on a free port against a seeded store, and a headless Chromium page."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest
import requests
from playwright.sync_api import sync_playwright

from demo.brokers import free_port
from demo.screenshots import ARGS, CHROMIUM
from tests.conftest import STORE_BACKENDS
from tests.seed import seed_config, seed_store

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
START_DEADLINE_S = 60


class Dashboard(NamedTuple):
    url: str
    store: Path | str  # the store's location: a SQLite path or a postgresql:// URL
    config: Path  # the dashboard's settings file
    log: Path | None = None


@contextlib.contextmanager
def backend_store(request, tmp: Path):
    """A fresh, empty store location of the backend ``request.param`` names (``STORE_BACKENDS``)."""
    if request.param == "sqlite":
        yield tmp / "eventdeck.db"
        return
    from tests.conftest import _pg_schema

    url, drop = _pg_schema(request.getfixturevalue("pg_database"))
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="module", params=STORE_BACKENDS)
def dashboard(request, tmp_path_factory):
    """A dashboard serving the seeded store of each backend (its URL and store location); stopped after the module."""
    tmp = tmp_path_factory.mktemp("dashboard")
    with backend_store(request, tmp) as store, serve(tmp, store=store) as d:
        yield d


@pytest.fixture(scope="module", params=STORE_BACKENDS)
def password_dashboard(request, tmp_path_factory):
    """The same with password sign-in (tests.seed.USERS)."""
    tmp = tmp_path_factory.mktemp("dashboard")
    with backend_store(request, tmp) as store, serve(tmp, auth="password", store=store) as d:
        yield d


@contextlib.contextmanager
def serve(tmp: Path, auth: str = "none", store: Path | str | None = None, seed: bool = True,
          extra_env: dict[str, str] | None = None):
    """`streamlit run serve.py` on a free port against ``store`` (default: a SQLite file in ``tmp``), freshly
    seeded unless ``seed`` is false (then the store is used as it is, or not created at all)."""
    store = tmp / "eventdeck.db" if store is None else store
    if seed:
        seed_store(store, int(time.time() * 1000))
    config = seed_config(tmp, store, auth=auth)
    with streamlit_on(tmp, config, extra_env) as (url, log_path):
        yield Dashboard(url, store, config, log_path)


@contextlib.contextmanager
def streamlit_on(tmp: Path, config: Path, extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, Path]]:
    """`streamlit run serve.py` with the settings file ``config`` on a free port; yields (url, log path) once it
    answers its health check, and stops and reaps it afterwards (also when it never came up)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTDECK_")}
    env["EVENTDECK_CONFIG"] = str(config)
    env.update(extra_env or {})
    log_path = tmp / f"streamlit-{port}.log"
    with open(log_path, "wb") as log:  # the child keeps its own descriptor
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
            except requests.RequestException:  # not listening yet, or too busy to answer in time (loaded machine)
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start on {url}: {log_path.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url, log_path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per test process (xdist worker): every test gets a browser context of its own
    (cookies, storage, viewport, colour scheme, time zone), so nothing leaks between tests or modules, and a
    launch per module was a second or more of start-up each time."""
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


def session_cookie(ctx, name: str = "eventdeck_session", timeout_s: float = 30.0) -> dict:
    """The session cookie once the sign-in's handoff has installed it. "Signed in as" shows before the page
    goes through the handoff route that sets the cookie (``serve.handoff``), so reading the cookies once right
    after sign-in races that redirect on a loaded machine."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [c for c in ctx.cookies() if c["name"] == name]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {name} cookie {timeout_s:.0f} s after sign-in (the handoff never ran)")
        time.sleep(0.2)
