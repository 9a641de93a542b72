"""Fixtures for AppTest runs of the dashboard against a seeded store."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.seed import seed_config, seed_store

APP = Path(__file__).resolve().parents[2] / "app.py"
RUN_TIMEOUT_S = 60


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    """Seed a store ending now, point the settings at it, and return ``make(auth) -> AppTest`` (already run)."""
    store = tmp_path / "eventdeck.db"
    seed_store(store, int(time.time() * 1000))

    def make(auth: str = "none") -> AppTest:
        monkeypatch.setenv("EVENTDECK_CONFIG", str(seed_config(tmp_path, store, auth=auth)))
        return AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S).run()

    monkeypatch.delenv("EVENTDECK_STORE__PATH", raising=False)
    make.store = store
    return make


def sign_in(at: AppTest, user: str, password: str) -> AppTest:
    at.text_input(key="login_user").input(user)
    at.text_input(key="login_password").input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def table_with(at: AppTest, column: str):
    """The first table on the page that has ``column`` (st.dataframe keys are not exposed to AppTest)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)
