"""SQL fragments that differ between SQLite and PostgreSQL, chosen by the connection.

Everything else the store runs is written once in the SQL both engines accept (``INSERT … ON CONFLICT``,
``CASE`` for two-value min/max, ``RETURNING``, aliased subqueries). Add a fragment here when a statement
cannot be written once; keep the owning module's SQL otherwise unchanged.
"""
from __future__ import annotations

from typing import Any

from store.postgres import DIALECT as POSTGRES


def is_pg(conn: Any) -> bool:
    return getattr(conn, "dialect", None) == POSTGRES


def in_ids(conn: Any, placeholder: str = "?") -> str:
    """``series_id IN (…)`` of a JSON array of ids bound to ``placeholder``."""
    if is_pg(conn):
        return f"series_id IN (SELECT value::bigint FROM json_array_elements_text(CAST({placeholder} AS json)))"
    return f"series_id IN (SELECT value FROM json_each({placeholder}))"


def label_value(conn: Any, labels: str = "s.labels") -> str:
    """Expression of one label's value in a series' labels JSON; its parameter is :func:`label_param`."""
    return f"(CAST({labels} AS jsonb) ->> ?)" if is_pg(conn) else f"json_extract({labels}, ?)"


def label_param(conn: Any, name: str) -> str:
    return name if is_pg(conn) else f"$.{name}"


def last_value(conn: Any, value: str, ts: str) -> str:
    """Aggregate: ``value`` at the greatest ``ts`` of the group (SQLite: the bare column next to max(ts))."""
    return f"(array_agg({value} ORDER BY {ts} DESC))[1]" if is_pg(conn) else value


def skip_locked(conn: Any) -> str:
    """Row locks for a claim: on PostgreSQL the rows read are locked and rows another claimer holds are
    skipped (``FOR UPDATE SKIP LOCKED``); SQLite's ``BEGIN IMMEDIATE`` already excludes other writers."""
    return " FOR UPDATE SKIP LOCKED" if is_pg(conn) else ""


def forced_join(conn: Any) -> str:
    """``CROSS JOIN`` fixes SQLite's loop order (left table outer); PostgreSQL plans a plain ``JOIN`` itself."""
    return "JOIN" if is_pg(conn) else "CROSS JOIN"
