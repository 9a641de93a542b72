"""``python -m demo.screenshots [URL] [--out DIR]``: a full-page screenshot of every dashboard page.

Drives Debian's Chromium through Playwright against a running dashboard (``make run``), waits until
each page has finished its script run, and prints the files written and whether a page shows an
exception box — a quick way to look at what an operator sees.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from views.registry import PAGES

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def url_path(spec) -> str:
    """The URL path Streamlit serves a registered page at (the default page is the root)."""
    return "" if spec.default else spec.path.removeprefix("views/").removesuffix(".py")


def settle(page, timeout_ms: int = 60_000) -> None:
    """Wait until the script run finished and every lazily loaded element (tables, metrics) is drawn."""
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout_ms)
    for _ in range(2):  # twice: a late element (fragment, rerun) may start loading after the first wait
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)
        page.wait_for_function("document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0",
                               timeout=timeout_ms)
        page.wait_for_timeout(500)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m demo.screenshots", description=__doc__.split("\n")[0])
    ap.add_argument("url", nargs="?", default="http://127.0.0.1:8501")
    ap.add_argument("--out", type=Path, default=Path("test-artifacts/live"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    broken = 0
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_context(viewport={"width": 1440, "height": 2000}).new_page()
        for spec in PAGES:
            page.goto(f"{args.url.rstrip('/')}/{url_path(spec)}")
            settle(page)
            errors = page.locator('[data-testid="stException"]').count()
            broken += bool(errors)
            path = args.out / f"{spec.title.lower()}.png"
            page.screenshot(path=str(path), full_page=True)
            print(f"{path}{'  EXCEPTION SHOWN' if errors else ''}")
        browser.close()
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
