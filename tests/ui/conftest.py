"""Fixtures for AppTest runs of the dashboard against a seeded store."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import STORE_BACKENDS
from tests.seed import delete_queues, real_rabbit_dlq, seed_config, seed_store

APP = Path(__file__).resolve().parents[2] / "app.py"
RUN_TIMEOUT_S = 60


@pytest.fixture(scope="session")
def seed_template(tmp_path_factory) -> Path:
    """The seeded store, written once per session (ending at session start); tests get a copy."""
    path = tmp_path_factory.mktemp("seed") / "eventdeck.db"
    seed_store(path, int(time.time() * 1000))
    return path


@pytest.fixture(scope="session")
def pg_seed_template():
    """The seeded store in a PostgreSQL database of its own, written once per session; tests get a copy
    (``CREATE DATABASE … TEMPLATE``). Yields a function making a copy and returning its store URL."""
    from tests.conftest import pg_template_copies

    with pg_template_copies(lambda url: seed_store(url, int(time.time() * 1000))) as copy:
        yield copy


@pytest.fixture(params=STORE_BACKENDS)
def seeded(request, tmp_path, monkeypatch):
    """A private copy of the seeded store of each backend (SQLite, PostgreSQL), the settings pointed at it,
    and ``make(auth) -> AppTest`` (already run). ``make.store`` is the store's location."""
    if request.param == "sqlite":
        seed_template = request.getfixturevalue("seed_template")
        store = tmp_path / "eventdeck.db"
        for suffix in ("", "-wal"):  # the WAL only exists if a checkpoint was left undone
            if Path(f"{seed_template}{suffix}").exists():
                shutil.copyfile(f"{seed_template}{suffix}", f"{store}{suffix}")
    else:
        store = request.getfixturevalue("pg_seed_template")()

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


@pytest.fixture
def rabbit_dlq(rabbitmq, seeded):
    """A real DLQ on the local RabbitMQ with three dead-lettered messages, known to the seeded store."""
    source, dlq = real_rabbit_dlq(rabbitmq.amqp_url, seeded.store, int(time.time() * 1000))
    yield dlq
    delete_queues(rabbitmq.amqp_url, source, dlq)


def open_dlq(at: AppTest, dlq: str) -> AppTest:
    """Switch to the DLQ page and pick ``dlq``."""
    at.switch_page("views/dlq.py").run()
    box = at.selectbox(key="dlq_pick")
    box.select_index(next(i for i, o in enumerate(box.options) if o.endswith(dlq)))
    return at.run()


def open_tab(at: AppTest, tab: str) -> AppTest:
    """Open a tab of the DLQ page (views.dlq.TABS; only the open tab runs), as a click or a link does."""
    at.session_state["dlq_tab"] = tab
    return at.run()


def replay_all(at: AppTest) -> AppTest:
    """Open the confirmation (dry run) for all messages, then confirm."""
    at.button(key="replay_all").click().run()
    at.button(key="replay_confirm").click()
    return at.run()
