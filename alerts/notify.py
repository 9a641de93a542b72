"""Delivery of queued notifications through apprise, with retry and exponential backoff.

Notifications sit in the store's outbox. ``deliver_due`` tries each due one; a success is marked
sent, a failure is logged as an attempt and rescheduled (``backoff_ms``) until the retries are
spent, then marked failed — a failed send is never marked sent. The outbox stores only the
*name* of the secret holding the apprise URL (URLs carry tokens), resolved at send time.
"""
from __future__ import annotations

import logging
import sqlite3
from typing import Callable

import apprise

from store import alerts as store_alerts
from store.db import transaction

Sender = Callable[[str, str, str, str], tuple[bool, str | None]]
log = logging.getLogger(__name__)


def backoff_ms(attempts: int, base_ms: int, cap_ms: int) -> int:
    """Delay before the next try after ``attempts`` failed ones: base · 2^(attempts-1), capped."""
    if attempts < 1:
        return 0
    return int(min(cap_ms, base_ms * 2 ** min(attempts - 1, 30)))


def literal_title(title: str, target_format: object) -> str:
    """The title (it holds broker-derived names) escaped for the target's format: apprise converts a TEXT
    body for each target, not the title. Markdown targets get CommonMark escapes, HTML ones entities."""
    from apprise.conversion.format import convert_between

    if target_format in (apprise.NotifyFormat.MARKDOWN, apprise.NotifyFormat.HTML):
        return convert_between(apprise.NotifyFormat.TEXT, target_format, title)
    return title


def send_apprise(url: str, title: str, body: str, notify_type: str) -> tuple[bool, str | None]:
    """Send one notification; ``(ok, error)``. The error text never contains the URL."""
    sender = apprise.Apprise()
    if not sender.add(url):
        return False, "the apprise URL is not valid or its service is unsupported"
    title = literal_title(title, getattr(sender[0], "notify_format", None))
    with apprise.LogCapture(level=logging.WARNING) as captured:
        # The body is plain text holding broker-derived names: declared as TEXT, apprise escapes it for each
        # target's own format (Markdown, HTML, Slack's <link|text> syntax), so a name never becomes a link.
        ok = bool(sender.notify(body=body, title=title, notify_type=apprise.NotifyType(notify_type),
                                body_format=apprise.NotifyFormat.TEXT))
    if ok:
        return True, None
    lines = [ln.split(" - ", 2)[-1] for ln in captured.getvalue().splitlines() if ln.strip()]
    return False, ("; ".join(lines) or "apprise reported a failure").replace(url, "<url>")[:500]


def deliver_due(conn: sqlite3.Connection, now_ms: int, resolve: Callable[[str], str | None],
                send: Sender = send_apprise, retries: int = 5, base_ms: int = 10_000,
                cap_ms: int = 600_000) -> dict[str, int]:
    """Try every due outbox entry once; returns counts ``{"sent", "retry", "failed"}``.

    ``resolve`` maps a target name to its apprise URL (``config.secret``). No write lock is held
    while sending; each result is committed on its own.
    """
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for row in store_alerts.due(conn, now_ms):
        url = resolve(row["target"])
        if url:
            ok, error = send(url, row["title"], row["body"], row["notify_type"])
        else:
            ok, error = False, f"no apprise URL: secret {row['target']} is not set"
        attempts = row["attempts"] + 1
        next_ms = None if ok or attempts > retries else now_ms + backoff_ms(attempts, base_ms, cap_ms)
        with transaction(conn):
            store_alerts.record_attempt(conn, row["id"], now_ms, ok, error, next_ms)
        state = "sent" if ok else "retry" if next_ms is not None else "failed"
        counts[state] += 1
        if not ok:
            log.warning("alert notification %s to %s: attempt %d failed (%s)%s", row["id"], row["target"],
                        attempts, error, "" if next_ms else "; giving up")
    return counts
