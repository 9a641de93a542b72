"""Time to first content of every dashboard page in a real browser (Chromium through Playwright).

``python -m bench.dashboard_browser_bench [--runs 3]``: serves the dashboard (``streamlit run app.py``)
on a seeded store, opens each registered page in a fresh browser context ``--runs`` times and prints
the median of: first content (the page's title and its first metric, table or state box drawn) and
settled (the script run finished, nothing loading). One warm-up load first, so the figures are a
warm server's, as an operator sees it after the first visit.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIRST = ('[data-testid="stMetric"], [data-testid="stDataFrame"], [data-testid="stAlert"], '
         '[data-testid="stTable"], [data-testid="stPlotlyChart"]')


def serve(store: Path, tmp: Path) -> tuple[subprocess.Popen, str]:
    from demo.brokers import free_port
    from eventdeck.launch import streamlit_command
    from tests.seed import seed_config

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTDECK_")}
    env["EVENTDECK_CONFIG"] = str(seed_config(tmp, store))
    with open(tmp / "streamlit.log", "wb") as log:
        proc = subprocess.Popen([*streamlit_command(port, "127.0.0.1"), "--server.fileWatcherType", "none"],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                return proc, url
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise RuntimeError(f"streamlit did not start: {(tmp / 'streamlit.log').read_text()[-1000:]}")


def measure(browser, url: str, title: str) -> tuple[float, float]:
    """(seconds to first content, seconds to settled) of one fresh load."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1200})
    try:
        page = ctx.new_page()
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_selector(f'[data-testid="stMain"] h1:has-text("{title}")', timeout=60_000)
        page.wait_for_selector(FIRST, timeout=60_000)
        first = time.perf_counter() - t0
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)
        page.wait_for_function("document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0",
                               timeout=60_000)
        return first, time.perf_counter() - t0
    finally:
        ctx.close()


def main(argv: list[str]) -> int:
    from playwright.sync_api import sync_playwright

    from demo.screenshots import ARGS, CHROMIUM, url_path
    from tests.seed import seed_store
    from views.registry import PAGES

    ap = argparse.ArgumentParser(prog="python -m bench.dashboard_browser_bench")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="eventdeck-browser-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        store = tmp / "eventdeck.db"
        seed_store(store, int(time.time() * 1000))
        proc, url = serve(store, tmp)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                measure(browser, f"{url}/", PAGES[0].title)  # warm-up
                print(f"browser time per page, median of {args.runs} fresh loads (seeded store)")
                print(f"{'page':<10} {'first content s':>16} {'settled s':>10}")
                for spec in PAGES:
                    runs = [measure(browser, f"{url}/{url_path(spec)}", spec.title) for _ in range(args.runs)]
                    print(f"{spec.title:<10} {statistics.median(r[0] for r in runs):16.2f} "
                          f"{statistics.median(r[1] for r in runs):10.2f}")
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
