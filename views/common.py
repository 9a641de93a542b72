"""Page plumbing shared by every screen: settings, the store reader, the time-range picker (kept in
``st.session_state`` across pages), the three empty states and operator actions. Sign-in and roles
are in ``views.signin``."""
from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator, TypeVar
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from config import ConfigError, Settings, load_settings
from core import links, times
from core.clock import now_ms
from store import audit, queries, status
from store.db import NotMigrated, transaction
from store.handle import Connection, Store, unreachable_errors
from views import charts, frames, zones
from views.signin import NotAllowed, User, current_user, require_operator, sign_out

RANGES: dict[str, int] = {
    "last 15 min": 15 * 60_000,
    "last 1 h": 3_600_000,
    "last 6 h": 6 * 3_600_000,
    "last 24 h": 24 * 3_600_000,
    "last 7 days": 7 * 24 * 3_600_000,
}
CUSTOM = "custom"
_RANGE_KEY = "time_range"          # shared by every page (plain session_state, not a widget key)
RANGE_STATE = _RANGE_KEY
T = TypeVar("T")
_SCRYPT = re.compile(r"scrypt\$[^\s'\"]*")
__all__ = ["NotAllowed", "PageContext", "User", "now_ms", "page", "require_operator"]


@dataclass(frozen=True)
class PageContext:
    settings: Settings
    user: User
    conn: Connection
    now_ms: int
    start_ms: int
    end_ms: int
    zone: str = zones.UTC  # every time on the page is shown in it (views.zones)


def load() -> Settings:
    """The settings; a configuration error is shown (it names the key) and the page stops."""
    try:
        return load_settings()
    except ConfigError as exc:  # keys are named; hashes and secrets never shown (config.settings redacts too)
        st.error(f"Configuration error: {_SCRYPT.sub('scrypt$<redacted>', str(exc))}")
        st.stop()
        raise  # unreachable: st.stop raises


@st.cache_resource(show_spinner=False)
def _reader(key: str, _store: Store) -> Connection:
    """The process-wide read-only connection to the store ``key`` names (sqlite3 here is serialized:
    threadsafety 3)."""
    return _store.reader()


RETRY_S = 3.0  # while the store is unreachable, the page tries again this often


def _alive(conn: Connection) -> bool:
    """Does the cached reader still answer? (A PostgreSQL restart drops every connection.)"""
    try:
        conn.execute("SELECT 1").fetchone()
        return True
    except unreachable_errors():
        return False


def unreachable(store: Store, reason: object) -> None:
    """The "store unreachable" state: said, and retried by itself every ``RETRY_S`` until it answers."""
    st.error(f"Store unreachable: {frames.md_escape(store.display)} does not answer — "
             f"{frames.md_escape(str(reason).splitlines()[0] if str(reason) else type(reason).__name__, 300)}. "
             f"Trying again every {RETRY_S:.0f} s.", icon=":material/cloud_off:")

    @st.fragment(run_every=RETRY_S)
    def retry() -> None:
        try:
            with store.reading() as conn:
                conn.execute("SELECT 1").fetchone()
        except unreachable_errors():
            return
        st.rerun(scope="app")

    retry()


def reader(settings: Settings) -> Connection | None:
    """A read-only store connection, or None if the collector service has not created the store yet.
    A store that does not answer (PostgreSQL restarting) stops the page with the "store unreachable" state;
    the cached connection is replaced as soon as the store answers again."""
    store = settings.store.handle
    if not store.is_postgres and not store.exists():  # asking never creates the file
        return None
    key = store.key
    try:
        conn = _reader(key, store)
        if not _alive(conn):
            _reader.clear(key, store)
            conn = _reader(key, store)
    except unreachable_errors() as exc:
        _reader.clear(key, store)
        unreachable(store, exc)
        st.stop()
        raise  # unreachable: st.stop raises
    try:
        store.require_migrated(conn)
    except NotMigrated as exc:
        st.error(f"The store cannot be read yet: {exc}.")
        st.stop()
    return conn


@contextlib.contextmanager
def writer(settings: Settings) -> Iterator[Connection]:
    """A short-lived writer connection for one operator action (the API opens BEGIN IMMEDIATE)."""
    with settings.store.handle.writing() as conn:
        yield conn


ZONE_KEY = "tz"  # widget key and URL query parameter: "UTC" or "browser"
BROWSER = "browser"


def display_zone() -> str:
    """The zone the operator picked for every time on the pages: UTC (default) or the browser's."""
    try:
        if st.session_state.get(ZONE_KEY) == BROWSER:
            return zones.zone(st.context.timezone)
    except Exception:  # noqa: BLE001 - outside a script run (unit tests, bare mode): UTC
        pass
    return zones.UTC


def zone_picker() -> str:
    """Sidebar switch of the one time zone (UTC, or the browser's), bound to the URL; returns the zone."""
    browser = zones.zone(st.context.timezone)
    # the URL holds the option itself ("tz=browser"), so a link means the same in every browser
    st.sidebar.radio("Times in", ["UTC", BROWSER], key=ZONE_KEY, bind="query-params", horizontal=True,
                     captions=["", browser], help="Every time on every page (tables, chart axes, hovers) is "
                     "shown in this zone; 'browser' is this browser's own zone.")
    return display_zone()


def time_range(now: int) -> tuple[int, int]:
    """Sidebar picker of the displayed window, shared by all pages through ``st.session_state``."""
    choice = st.session_state.setdefault(_RANGE_KEY, links.DEFAULT_RANGE)
    options = [*RANGES, CUSTOM]
    if links.RANGE not in st.query_params and links.RANGE not in st.session_state:
        # a page move (the URL lost its parameters): carry the range as the widget's value, which the URL
        # then shows, so a link copied on any page keeps the range
        st.session_state[links.RANGE] = choice
    picked = st.sidebar.selectbox("Time range", options, key=links.RANGE, bind="query-params")
    st.session_state[_RANGE_KEY] = picked
    if picked != CUSTOM:
        return now - RANGES[picked], now
    zone = display_zone()
    tz = timezone.utc if zone == zones.UTC else ZoneInfo(zone)
    end_default = datetime.fromtimestamp(now / 1000, tz=tz).replace(tzinfo=None)
    start = st.sidebar.datetime_input(
        f"From ({zones.label(zone, now)})", value=st.session_state.get("range_from", end_default - timedelta(hours=6)),
        key=links.RANGE_FROM, bind="query-params")
    end = st.sidebar.datetime_input(f"To ({zones.label(zone, now)})", value=st.session_state.get("range_to", end_default),
                                    key=links.RANGE_TO, bind="query-params")
    st.session_state["range_from"], st.session_state["range_to"] = start, end
    start_ms = int(start.replace(tzinfo=tz).timestamp() * 1000)
    end_ms = int(end.replace(tzinfo=tz).timestamp() * 1000)
    if end_ms <= start_ms:
        st.sidebar.error("'From' must be before 'To'; showing the last hour.")
        return now - 3_600_000, now
    return start_ms, end_ms


def page(title: str, needs: Callable[[Settings], object] | None = None, missing: str = "") -> PageContext:
    """Start a page: settings, sign-in, sidebar (user, time range) and the store connection.

    The page stops with the 'not configured' state naming ``missing`` when ``needs(settings)`` is
    falsy, and with the 'no data yet' state while the collector service has not created the store.
    """
    settings = load()
    user = current_user(settings)
    st.title(title)
    with st.sidebar:
        st.caption(f"Signed in as **{frames.md_escape(user.name)}** ({user.role})")  # an OIDC 'sub' is any text
        if settings.dashboard.auth != "none":
            st.button("Sign out", on_click=sign_out, args=(settings,), key="sign_out")
    now = now_ms()
    zone = zone_picker()
    start, end = time_range(now)
    live_mark(settings, now)
    if needs is not None and not needs(settings):
        not_configured(missing)
        st.stop()
    conn = reader(settings)
    if conn is None:
        no_data("the store has not been created yet — start the collector service: `python -m collectors`")
        st.stop()
    return PageContext(settings, user, conn, now, start, end, zone)


HOLD_KEYS = ["replay_request"]  # session keys that hold the page still (an open dialog): no auto-refresh
_TICK_S = 2.0


def live_mark(settings: Settings, loaded_ms: int) -> None:
    """Sidebar mark "updated N s ago", ticking in a fragment; the whole page reruns every
    ``dashboard.page_refresh_s`` (0: never) unless a dialog holds it (``HOLD_KEYS``)."""
    every = settings.dashboard.page_refresh_s

    @st.fragment(run_every=_TICK_S)
    def mark() -> None:
        age = max(0, (now_ms() - loaded_ms) // 1000)
        st.caption(f"updated {age} s ago" + ("" if every else " · live refresh off"), help=fmt_ts(loaded_ms))
        if every and age >= every and not any(st.session_state.get(k) for k in HOLD_KEYS):
            st.rerun(scope="app")

    with st.sidebar:
        mark()


def no_data(what: str) -> None:
    st.info(f"No data yet: {what}.", icon=":material/hourglass_empty:")


def broker_down(what: str, reason: str | None) -> None:
    # ``what`` and ``reason`` carry broker- and target-derived text: never Markdown
    st.error(f"Broker down: {frames.md_escape(what)}" + (f" — {frames.md_escape(reason, 500)}" if reason else ""),
             icon=":material/power_off:")


def not_configured(what: str) -> None:
    st.warning(f"Not configured: {what}. Add it to the configuration file (see config/eventdeck.example.yaml).",
               icon=":material/settings:")


def fmt_ts(ts_ms: float | int | None, zone: str | None = None) -> str:
    """``YYYY-MM-DD HH:MM:SS UTC`` (or in the zone the operator picked, labelled: ``... EST``); ``—`` for none,
    and the raw number marked for a value no date can show (year 10000, inf, nan, negative, not a number): a
    broker-supplied time never breaks a page."""
    return times.shown(None if ts_ms is pd.NA or ts_ms is pd.NaT else ts_ms, zone or display_zone())


def table(df, empty: str, rename: dict[str, str] | None = None, **kwargs) -> None:
    """A sortable, filterable table, or the 'no data yet' state naming ``empty`` when there are no rows."""
    if df is None or df.empty:
        no_data(empty)
    else:
        st.dataframe(df.rename(columns=rename or {}), hide_index=True, **kwargs)


def latest_wide(conn: Connection, metrics: dict[str, str], match: dict | None,
                index: list[str]) -> pd.DataFrame:
    """Latest values of several metrics as one table: a row per ``index`` labels, a column per metric label."""
    parts = [queries.latest(conn, m, match).assign(metric=label) for m, label in metrics.items()]
    parts = [p for p in parts if not p.empty]
    return frames.wide(pd.concat(parts, ignore_index=True), index, "metric") if parts else pd.DataFrame()


GONE_HELP = ("Gone: absent from its collector's latest successful poll (deleted, or no longer reported). "
             "Left out of the tables, totals, top lists and alerts above; history keeps it.")


def gone_section(conn: Connection, metrics: list[str], match: dict | None, index: list[str], what: str,
                 key: str) -> pd.DataFrame:
    """The "show gone" switch under a now-table: ``what`` (e.g. "groups") whose series of ``metrics`` (the
    table's) all left their target's latest successful cycle, listed greyed with "last seen" when switched
    on. Returns them."""
    parts = [p for p in (queries.latest(conn, m, match, gone=True) for m in metrics) if not p.empty]
    gone = frames.gone_entities(pd.concat(parts, ignore_index=True) if parts else None, index)
    if gone.empty:
        return gone
    if st.toggle(f"Show gone {what} ({len(gone)})", key=key, help=GONE_HELP):
        shown = gone.assign(**{"last seen": gone["last_seen_ms"].map(fmt_ts), "status": "gone"})[
            [*[c for c in index if c in gone], "status", "last seen"]]
        st.dataframe(shown.style.set_properties(**{"color": "#888888", "font-style": "italic"}),
                     hide_index=True, key=f"{key}_table")
    return gone


def cluster_header(ctx: PageContext, broker: str, label: str, clusters: list[str], key: str) -> str:
    """The cluster picker of a broker page and its health line (down with the reason, or not polled yet)."""
    cluster = st.selectbox("Cluster", clusters, key=key, bind="query-params")
    health_line(label, frames.cluster_health([cluster], status.read_status(ctx.conn), broker).iloc[0])
    return cluster


def health_line(label: str, health) -> bool:
    """Say that a ``frames.cluster_health`` row's cluster is down (with the reason) or not polled yet; True if up."""
    if health.state == frames.DOWN:
        broker_down(f"{label} {health.cluster}", health.reason)
    elif health.state == frames.NO_DATA:
        no_data(f"{label} {health.cluster} has not been polled yet")
    return health.state == frames.UP


def history_chart(ctx: PageContext, metric: str, match: dict | None, *, title: str, unit: str,
                  label_cols: list[str], empty: str, key: str, frame: Callable[[pd.DataFrame], pd.DataFrame] | None = None) -> None:
    """A history chart of ``metric`` over the page's time range, or the 'no data yet' state naming ``empty``."""
    df = queries.range_query(ctx.conn, metric, match, ctx.start_ms, ctx.end_ms)
    if df.empty:
        no_data(empty)
        return
    df = frame(df) if frame else df
    if unit == "s":  # durations: drawn in the unit the values need, as the tables show them
        df, unit = charts.in_duration_unit(df)
    scale = "linear"
    if charts.flattened(df, label_cols):  # one large series would flatten the rest: offer another scale
        scale = st.segmented_control("Scale", charts.SCALES, default="linear", key=f"{key}_scale",
                                     help="one series is far larger than another: a log axis, or each series "
                                          "against its own peak, shows the small ones") or "linear"
    st.plotly_chart(charts.timeseries_figure(df, title=title, unit=unit, label_cols=label_cols, zone=ctx.zone,
                                             x_range=(ctx.start_ms, ctx.end_ms), scale=scale), key=key)


def operator_action(ctx: PageContext, action: str, target: str, run: Callable[[Connection], T]) -> T | None:
    """Run an operator-only change on a writer connection after the server-side role check.

    A viewer's attempt is refused, shown as an error and audited with outcome 'refused'; an error
    raised by ``run`` (bad input) is shown and the page continues. Returns ``run``'s result or None.
    """
    with writer(ctx.settings) as conn:
        try:
            require_operator(ctx.user, action)
        except NotAllowed as exc:
            with transaction(conn):
                audit.record(conn, now_ms(), ctx.user.name, action, target, {"role": ctx.user.role}, "refused")
            st.error(f"Refused: {frames.md_escape(exc, 500)}.")
            return None
        try:
            return run(conn)
        except ValueError as exc:
            st.error(f"{action} refused: {frames.md_escape(exc, 500)}")
            return None
