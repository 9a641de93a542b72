"""The dashboard pages (``core.links.NAVIGATION``) as Streamlit page specs: ``app.py`` builds the navigation from
them and the tests walk them."""
from __future__ import annotations

from typing import NamedTuple

from core.links import NAVIGATION, PAGES as PATHS


class PageSpec(NamedTuple):
    path: str   # relative to app.py
    title: str
    icon: str
    default: bool = False


PAGES: list[PageSpec] = [PageSpec(f"views/{name}.py", title, icon, default=PATHS[name] == "")
                         for name, title, icon in NAVIGATION]
