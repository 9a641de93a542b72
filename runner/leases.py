"""Collectors sharing targets through leases in a PostgreSQL store.

Every collector process is a *member*: it beats every ``ttl/3`` (its row in ``collector_members``,
with the targets its configuration has). Each target belongs to one live member chosen by rendezvous
hashing over the live members that have it (:func:`rendezvous_owner`: stable, and a member joining or
leaving moves only the targets it wins or held). The chosen member takes the target's lease
(``target_leases``) once it is free or expired, renews it at each beat and collects only while it
holds it; a member that is no longer the choice releases it at its next beat. A member that dies
stops beating: after ``ttl`` it is no longer live and its leases have expired, so the others take its
targets at their next beat, within ``ttl + ttl/3`` plus one collection interval.

Besides the collector targets, :data:`SINGLETON` is leased the same way: its holder alone runs the
store housekeeping and the alert evaluation. Replay jobs need no lease (claimed with SKIP LOCKED).
With a SQLite store nothing here runs: one service writes alone, as before.
"""
from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any, Callable, Iterable

from core.clock import now_ms

log = logging.getLogger("eventdeck.leases")

SINGLETON = "service:housekeeping"
COLLECTOR_PREFIXES = ("kafka:", "rabbitmq:", "telemetry:")
TTL_SHARE_OF_INTERVAL = 0.6  # ttl + one beat (ttl/3) = 0.8 interval: takeover within two intervals
FORGET_AFTER_MS = 24 * 3_600_000


def rendezvous_owner(target: str, members: Iterable[str]) -> str | None:
    """The member with the highest hash of (member, target); None without members."""
    best, best_score = None, b""
    for m in members:
        score = hashlib.blake2b(f"{m}\x00{target}".encode(), digest_size=8).digest()
        if best is None or score > best_score or (score == best_score and m > best):
            best, best_score = m, score
    return best


def desired(targets: Iterable[str], live: dict[str, list[str]]) -> dict[str, str | None]:
    """target -> the live member that should own it (among the members whose configuration has it)."""
    return {t: rendezvous_owner(t, [m for m, ts in live.items() if t in ts]) for t in targets}


def default_ttl_s(intervals_s: Iterable[float]) -> float:
    shortest = min(intervals_s, default=15.0)
    return max(0.5, TTL_SHARE_OF_INTERVAL * shortest)


def new_member_id() -> str:
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaseManager:
    """One collector process's membership and leases; :meth:`beat` runs every ``ttl/3``."""

    def __init__(self, open_conn: Callable[[], Any], targets: Iterable[str], ttl_s: float,
                 member: str | None = None, clock: Callable[[], float] = time.monotonic,
                 wall_ms: Callable[[], int] = now_ms):
        """``clock`` (seconds, monotonic) bounds how long a lease may be acted on after the beat that took it;
        ``wall_ms`` stamps when a target was taken (compared with interval slots). Expiry between members is
        the database's clock (store.leases)."""
        self.open_conn = open_conn
        self.clock = clock
        self.wall_ms = wall_ms
        self.targets = sorted(set(targets) | {SINGLETON})
        self.ttl_ms = int(ttl_s * 1000)
        self.member = member or new_member_id()
        self._held: dict[str, float] = {}  # target -> clock() until which we may act on it
        self._since: dict[str, int] = {}  # target -> wall ms when this member took it (kept while held)
        self._lock = threading.Lock()
        self._conn: Any = None

    @property
    def beat_s(self) -> float:
        return self.ttl_ms / 3000.0

    def holds(self, target: str) -> bool:
        with self._lock:
            until = self._held.get(target)
        return until is not None and self.clock() < until

    def allows(self, job_id: str, slot_ms: int | None = None) -> bool:
        """Whether this member may run the job now: a collector target it holds (for a cycle of the interval
        slot starting at ``slot_ms``: only slots starting after it took the lease, so the member it took
        the target from, which may have collected in the current slot, and this one never share a slot),
        housekeeping if it holds the singleton lease, anything else (replay job polling) always."""
        if job_id.startswith(COLLECTOR_PREFIXES):
            with self._lock:
                since = self._since.get(job_id)
            return self.holds(job_id) and (slot_ms is None or since is None or slot_ms >= since)
        if job_id.startswith("store:"):
            return self.holds(SINGLETON)
        return True

    def held(self) -> list[str]:
        now = self.clock()
        with self._lock:
            return sorted(t for t, until in self._held.items() if until > now)

    def beat(self) -> None:
        """Heartbeat, then take, renew or release leases so each target sits with its chosen live member."""
        from store import leases

        if self._conn is None:
            self._conn = self.open_conn()
        conn = self._conn
        try:
            started = self.clock()
            now = leases.heartbeat(conn, self.member, socket.gethostname()[:64], os.getpid(), self.targets)
            live = leases.live_members(conn, now, self.ttl_ms)
            # A lease counts from before the round trips that took it, with a margin of one beat.
            valid_until = started + (self.ttl_ms - self.ttl_ms / 3) / 1000.0
            for target, owner in desired(self.targets, live).items():
                if owner == self.member:
                    was_valid = self.holds(target)
                    if leases.acquire(conn, target, self.member, self.ttl_ms):
                        with self._lock:
                            if target not in self._held:
                                log.info("lease on %s taken by %s", target, self.member)
                            if not was_valid:  # taken now, or again after our validity lapsed
                                self._since[target] = self.wall_ms()
                            self._held[target] = valid_until
                    else:
                        self._drop(target)
                elif target in self._held:
                    self._drop(target)
                    leases.release(conn, self.member, [target])
                    log.info("lease on %s released by %s (now %s's)", target, self.member, owner)
            if self.holds(SINGLETON):
                leases.forget_dead(conn, now, FORGET_AFTER_MS)
        except Exception as exc:
            from runner.collect import store_unreachable

            with self._lock:
                if store_unreachable(exc):
                    # The store does not answer (a restart): no other member can take a lease meanwhile, so the
                    # collector targets held go on being collected (their samples wait in the jobs' spools)
                    # until a beat reaches the store again and decides; housekeeping waits.
                    for target in list(self._held):
                        if target.startswith(COLLECTOR_PREFIXES):
                            self._held[target] = float("inf")
                        else:
                            self._held.pop(target, None)
                            self._since.pop(target, None)
                else:  # the store failed otherwise: stop acting on leases we cannot renew
                    self._held.clear()
                    self._since.clear()
            self._close_conn()
            raise

    def _drop(self, target: str) -> None:
        with self._lock:
            self._held.pop(target, None)
            self._since.pop(target, None)

    def _close_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken; a new connection is opened at the next beat
                log.debug("closing the lease connection failed", exc_info=True)
            self._conn = None

    def leave(self) -> None:
        """Release every lease and the member row (the service is stopping)."""
        from store import leases

        with self._lock:
            self._held.clear()
        try:
            if self._conn is None:
                self._conn = self.open_conn()
            leases.leave(self._conn, self.member)
        finally:
            self._close_conn()
