"""How the dashboard is started, for ``eventdeck dashboard`` and ``make run`` alike: Streamlit on
``app.py`` with the project's Streamlit settings given as flags, so they hold from any working
directory (``.streamlit/config.toml`` is only read from the current one)."""
from __future__ import annotations

import sys
from pathlib import Path

# app.py sits next to the packages, in a checkout and in site-packages alike
APP_PATH = Path(__file__).resolve().parent.parent / "app.py"

STREAMLIT_FLAGS = ("--browser.gatherUsageStats", "false", "--server.headless", "true",
                   "--client.toolbarMode", "viewer")


def streamlit_command(port: int, address: str, python: str | None = None) -> list[str]:
    """The command line that serves the dashboard on ``address:port``."""
    return [python or sys.executable, "-m", "streamlit", "run", str(APP_PATH), "--server.port", str(port),
            "--server.address", address, *STREAMLIT_FLAGS]
