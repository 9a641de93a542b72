"""Time to first content of every dashboard page in a real browser (Chromium through Playwright).

``python -m bench.dashboard_browser_bench [--runs 3]``: serves the dashboard (``streamlit run app.py``)
on a seeded store, opens each registered page in a fresh browser context ``--runs`` times and prints
the median of: first content (the page's title and its first metric, table or state box drawn) and
settled (the script run finished, nothing loading). One warm-up load first, so the figures are a
warm server's, as an operator sees it after the first visit. Each page's two figures are issue 26's rows
(``bench.verdict``): first content ≤ 0.8 s and settled ≤ 1.5 s, every page. The load average is printed
with them: on a shared machine the figures grow with it.

The same loads of an empty Streamlit app (a title and one metric, ``streamlit run`` with the same flags) are
measured first and printed as the floor: what Streamlit's own front end (about 2.5 MB of JavaScript to load and
evaluate, the websocket, the first render) costs on this machine before any Eventdeck page code runs.
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

from bench import verdict

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIRST = ('[data-testid="stMetric"], [data-testid="stDataFrame"], [data-testid="stAlert"], '
         '[data-testid="stTable"], [data-testid="stPlotlyChart"]')
# any of FIRST drawn in the main area (a selector list waits on its first match only, which may be one not drawn)
FIRST_DRAWN = ("[...document.querySelectorAll('[data-testid=\"stMain\"] :is(%s)')]"
               ".some(e => e.getBoundingClientRect().height > 0)" % FIRST.replace('"', '\\"'))
FIRST_TARGET_S, SETTLED_TARGET_S = 0.8, 1.5  # issue 26, every page


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
    return proc, wait_healthy(proc, f"http://127.0.0.1:{port}", tmp / "streamlit.log")


FLOOR_APP = """import streamlit as st
st.set_page_config(page_title="floor", layout="wide")
st.title("Floor")
st.metric("one metric", 1)
"""


def serve_floor(tmp: Path) -> tuple[subprocess.Popen, str]:
    """An empty Streamlit app (title + one metric) served as the dashboard is, for the floor figure."""
    from demo.brokers import free_port
    from eventdeck.launch import STREAMLIT_FLAGS

    app = tmp / "floor_app.py"
    app.write_text(FLOOR_APP)
    port = free_port()
    with open(tmp / "floor.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
                                 "--server.address", "127.0.0.1", *STREAMLIT_FLAGS],
                                cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    return proc, wait_healthy(proc, f"http://127.0.0.1:{port}", tmp / "floor.log")


def wait_healthy(proc: subprocess.Popen, url: str, log: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                return url
        except requests.RequestException:  # not listening yet, or busy importing (a read timeout)
            pass
        time.sleep(0.3)
    proc.terminate()
    raise RuntimeError(f"streamlit did not start: {log.read_text()[-1000:]}")


def measure(browser, url: str, title: str) -> tuple[float, float]:
    """(seconds to first content, seconds to settled) of one fresh load."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 1200})
    try:
        page = ctx.new_page()
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_selector(f'[data-testid="stMain"] h1:has-text("{title}")', timeout=60_000)
        page.wait_for_function(FIRST_DRAWN, timeout=60_000)
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
        floor_proc, floor_url = serve_floor(tmp)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                measure(browser, f"{url}/", PAGES[0].title)  # warm-up
                measure(browser, f"{floor_url}/", "Floor")
                print(f"browser time per page, median of {args.runs} fresh loads (seeded store); "
                      f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start")
                print(f"{'page':<10} {'first content s':>16} {'settled s':>10}")
                floor = [measure(browser, f"{floor_url}/", "Floor") for _ in range(args.runs)]
                print(f"{'(floor)':<10} {statistics.median(r[0] for r in floor):16.2f} "
                      f"{statistics.median(r[1] for r in floor):10.2f}   an empty Streamlit app: title + one metric",
                      flush=True)
                medians = {}
                for spec in PAGES:
                    runs = [measure(browser, f"{url}/{url_path(spec)}", spec.title) for _ in range(args.runs)]
                    medians[spec.title] = (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))
                    print(f"{spec.title:<10} {medians[spec.title][0]:16.2f} {medians[spec.title][1]:10.2f}", flush=True)
                browser.close()
            print(f"load average {os.getloadavg()[0]:.1f} at the end")
            for title, (first, settled) in medians.items():
                verdict.report(f"browser {title}: first content", first, FIRST_TARGET_S, "s", higher_is_better=False)
                verdict.report(f"browser {title}: settled", settled, SETTLED_TARGET_S, "s", higher_is_better=False)
        finally:
            for p in (proc, floor_proc):
                p.terminate()
                p.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
