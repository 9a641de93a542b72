"""How the dashboard is started, for ``eventdeck dashboard`` and ``make run`` alike: Streamlit on
``serve.py`` (``app.py`` behind the Host guard and the session-cookie route) with the project's
Streamlit settings given as flags, so they hold from any working
directory (``.streamlit/config.toml`` is only read from the current one)."""
from __future__ import annotations

import sys
from pathlib import Path

# serve.py (and the app.py it serves) sit next to the packages, in a checkout and in site-packages alike
APP_PATH = Path(__file__).resolve().parent.parent / "serve.py"

STREAMLIT_FLAGS = ("--browser.gatherUsageStats", "false", "--server.headless", "true",
                   "--client.toolbarMode", "viewer", "--client.showErrorDetails", "none",
                   # an installed dashboard serves, it is not edited: no file watcher, no rerun on save
                   "--server.fileWatcherType", "none", "--server.runOnSave", "false")


def streamlit_command(port: int, address: str, python: str | None = None) -> list[str]:
    """The command line that serves the dashboard on ``address:port``."""
    return [python or sys.executable, "-m", "streamlit", "run", str(APP_PATH), "--server.port", str(port),
            "--server.address", address, *STREAMLIT_FLAGS]
