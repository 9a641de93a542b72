"""Helpers of the DLQ page tests: open the page (AppTest), find widgets by label, select rows."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core import links
from tests import seed
from tests.ui.conftest import APP, RUN_TIMEOUT_S


def _open(seeded, **params):
    """A fresh session opening ``/dlq?params`` (as a browser opening a link)."""
    seeded()  # points the settings at the seeded store
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT_S)
    for k, v in params.items():
        at.query_params[k] = v
    return at.switch_page("views/dlq.py").run()


def _label(dlq: str) -> str:
    return links.dlq_label("rabbitmq", seed.RABBIT, "/", dlq)


def _select_rows(at, rows: list[int]):
    """Select rows of the messages table as a click does (its widget key changes with its rows)."""
    at.session_state[at.session_state["dlq_messages_key"]] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()
