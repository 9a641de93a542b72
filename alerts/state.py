"""The alert state machine of one (rule, series group): inactive → pending → firing → resolved.

Pure: ``step`` takes the previous state, what was observed now (breach, no breach or no data)
and the injected ``now_ms``, and returns the next state plus the events to record. Semantics
follow Prometheus: the condition must hold for ``for_ms`` before firing (0 fires at once); a
firing alert re-notifies every ``repeat_ms``; a firing alert whose condition clears sends one
resolved notification. No data is *not* a clear condition unless the rule says so:

* ``keep`` (default): the state is held (pending does not progress, firing does not repeat),
  and a ``nodata`` event is recorded once;
* ``ok``: no data counts as below the threshold (the alert resolves);
* ``alerting``: no data counts as a breach (e.g. a target that stopped reporting).

``keep_ms`` is Prometheus' ``keep_firing_for``: a firing alert whose condition stops holding stays
firing until it has been clear that long (``clear_since_ms``), so a flapping condition does not
resolve and re-fire every few seconds. A group that is gone (its series left the target's latest
successful cycle) resolves at once: the evaluator calls ``step`` with ``breach=False, keep_ms=0``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StateName = Literal["inactive", "pending", "firing", "resolved"]
EventKind = Literal["pending", "cancelled", "firing", "repeat", "resolved", "nodata"]
NOTIFY_EVENTS = frozenset({"firing", "repeat", "resolved"})


@dataclass(frozen=True)
class AlertState:
    """Where one (rule, group) stands. Times are UTC epoch ms; None when not applicable."""

    state: StateName = "inactive"
    active_since_ms: int | None = None   # when the condition started to hold (pending start)
    fired_at_ms: int | None = None
    last_notified_ms: int | None = None  # last firing/repeat notification due
    resolved_at_ms: int | None = None
    nodata_since_ms: int | None = None
    value: float | None = None
    clear_since_ms: int | None = None    # firing, condition clear since then (held by keep_firing_for)


_FIELDS = frozenset(AlertState.__dataclass_fields__)


@dataclass(frozen=True)
class Event:
    """A transition (or a repeat) to record; ``notify`` says whether a notification is due."""

    kind: EventKind
    from_state: StateName
    to_state: StateName

    @property
    def notify(self) -> bool:
        return self.kind in NOTIFY_EVENTS


def _with(prev: AlertState, /, **changes: object) -> AlertState:
    """``dataclasses.replace`` without its per-call field introspection (it ran for every group stepped)."""
    unknown = changes.keys() - _FIELDS
    if unknown:
        raise TypeError(f"AlertState has no field {sorted(unknown)}")
    new = object.__new__(AlertState)
    new.__dict__.update(prev.__dict__)
    new.__dict__.update(changes)
    return new


def pending_since(now_ms: int, value: float | None) -> AlertState:
    """``AlertState("pending", now_ms, value=value)``, made without the frozen dataclass' per-field setattr
    (it is made for every new incident)."""
    new = object.__new__(AlertState)
    new.__dict__.update(state="pending", active_since_ms=now_ms, fired_at_ms=None, last_notified_ms=None,
                        resolved_at_ms=None, nodata_since_ms=None, value=value, clear_since_ms=None)
    return new


def step(prev: AlertState, breach: bool | None, value: float | None, *, for_ms: int, repeat_ms: int,
         no_data: str, now_ms: int, keep_ms: int = 0) -> tuple[AlertState, list[Event]]:
    """Advance one evaluation. ``breach`` is None when the group has no (fresh) data."""
    if for_ms < 0 or repeat_ms <= 0 or keep_ms < 0:
        raise ValueError("for_ms and keep_ms must be >= 0 and repeat_ms > 0")
    if breach is None:
        nodata_since = prev.nodata_since_ms if prev.nodata_since_ms is not None else now_ms
        if no_data == "keep":
            events = []
            if prev.nodata_since_ms is None and prev.state in ("pending", "firing"):
                events.append(Event("nodata", prev.state, prev.state))
            return _with(prev, nodata_since_ms=nodata_since, value=None), events
        if no_data not in ("ok", "alerting"):
            raise ValueError(f"unknown no_data policy {no_data!r}")
        nxt, events = _advance(prev, no_data == "alerting", for_ms, repeat_ms, now_ms, keep_ms)
        return _with(nxt, nodata_since_ms=nodata_since, value=None), events
    nxt, events = _advance(prev, breach, for_ms, repeat_ms, now_ms, keep_ms)
    return _with(nxt, nodata_since_ms=None, value=value), events


def _advance(prev: AlertState, breach: bool, for_ms: int, repeat_ms: int,
             now_ms: int, keep_ms: int = 0) -> tuple[AlertState, list[Event]]:
    s = prev.state
    if breach and s == "firing" and prev.clear_since_ms is not None:
        prev = _with(prev, clear_since_ms=None)  # held by keep_firing_for, and breaching again
    if breach:
        if s in ("inactive", "resolved"):
            if for_ms == 0:
                return AlertState("firing", now_ms, now_ms, now_ms), [Event("firing", s, "firing")]
            return AlertState("pending", now_ms), [Event("pending", s, "pending")]
        if s == "pending":
            if now_ms - (prev.active_since_ms or now_ms) >= for_ms:
                return (_with(prev, state="firing", fired_at_ms=now_ms, last_notified_ms=now_ms),
                        [Event("firing", "pending", "firing")])
            return prev, []
        if now_ms - (prev.last_notified_ms or 0) >= repeat_ms:
            return _with(prev, last_notified_ms=now_ms), [Event("repeat", "firing", "firing")]
        return prev, []
    if s == "pending":
        return AlertState("inactive"), [Event("cancelled", "pending", "inactive")]
    if s == "firing":
        clear_since = prev.clear_since_ms if prev.clear_since_ms is not None else now_ms
        if now_ms - clear_since < keep_ms:
            return _with(prev, clear_since_ms=clear_since), []
        return (_with(prev, state="resolved", resolved_at_ms=now_ms, clear_since_ms=None),
                [Event("resolved", "firing", "resolved")])
    return prev, []
