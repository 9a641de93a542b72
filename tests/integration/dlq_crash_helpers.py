"""Helpers of the DLQ replay crash tests: a replay that dies at a chosen record, and its progress."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from dlq import api
from store.db import connect_reader


def _progress(store: Path, job_id: int) -> dict[str, Any]:
    conn = connect_reader(store)
    try:
        return api.job(conn, job_id) or {}
    finally:
        conn.close()


class Crash(BaseException):
    """Stands for a SIGKILL at an exact point: nothing after it runs, nothing catches it."""


def _crash_on_record(monkeypatch, when) -> None:
    """Make JobContext.record die the first time ``when(outcomes)`` holds (before or after writing)."""
    from dlq.context import JobContext

    real = JobContext.record
    state = {"armed": True}

    def record(self, outcomes):
        if state["armed"] and when(outcomes):
            state["armed"] = False
            if when.after_write:
                real(self, outcomes)
            raise Crash()
        return real(self, outcomes)

    monkeypatch.setattr(JobContext, "record", record)
