"""Helpers of the Kafka DLQ tests (topics, seeded DLQ records, settings, replay)."""
from __future__ import annotations

import time
from typing import Any

from config import Settings
from dlq import api
from dlq.jobs import run_pending
from store.db import open_migrated


def replay(settings: Settings, dlq: str, actor: str = "tester", **req: Any) -> dict[str, Any]:
    conn = open_migrated(settings.store.handle)
    try:
        jid = api.enqueue_replay(conn, {"broker": "kafka", "cluster": "k", "dlq": dlq, "rate_per_s": None, **req},
                                 actor, int(time.time() * 1000))
        assert run_pending(settings, settings.store.handle, jid) == jid
        return api.job(conn, jid)
    finally:
        conn.close()
