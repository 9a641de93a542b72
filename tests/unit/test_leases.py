"""Target leases of collectors sharing a PostgreSQL store: rendezvous choice (pure, tables) and the lease
manager against the machine's PostgreSQL (Unix socket): one owner per target, takeover after a member
stops beating, hand-back when it returns, release on leave."""
from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from runner.leases import SINGLETON, LeaseManager, default_ttl_s, desired, rendezvous_owner
from store import db, leases as store_leases

TARGETS = [f"kafka:c{i}" for i in range(30)] + [f"rabbitmq:r{i}" for i in range(30)]


def test_rendezvous_is_stable_and_spreads():
    members = ["a", "b", "c"]
    owners = {t: rendezvous_owner(t, members) for t in TARGETS}
    assert owners == {t: rendezvous_owner(t, list(reversed(members))) for t in TARGETS}  # order-free
    assert set(Counter(owners.values())) == {"a", "b", "c"} and min(Counter(owners.values()).values()) >= 10
    # a member leaving moves only its own targets; one joining takes targets only for itself
    without_b = {t: rendezvous_owner(t, ["a", "c"]) for t in TARGETS}
    assert all(without_b[t] == o for t, o in owners.items() if o != "b")
    with_d = {t: rendezvous_owner(t, ["a", "b", "c", "d"]) for t in TARGETS}
    assert all(with_d[t] in (o, "d") for t, o in owners.items())
    assert rendezvous_owner("x", []) is None


@pytest.mark.parametrize("live, want", [
    ({"a": ["kafka:x"], "b": ["kafka:y"]}, {"kafka:x": "a", "kafka:y": "b"}),  # only members configured for it
    ({"a": []}, {"kafka:x": None, "kafka:y": None}),
])
def test_desired_owner_is_among_members_configured_for_the_target(live, want):
    assert desired(["kafka:x", "kafka:y"], live) == want


@pytest.mark.parametrize("intervals, ttl", [([15.0, 30.0], 9.0), ([2.0], 1.2), ([], 9.0), ([0.1], 0.5)])
def test_default_ttl(intervals, ttl):
    assert default_ttl_s(intervals) == pytest.approx(ttl)


@pytest.fixture
def pg_store(pg_store):
    """A migrated PostgreSQL store."""
    db.open_migrated(pg_store).close()
    return pg_store


def _owners(url) -> dict[str, str]:
    conn = db.connect_reader(url)
    try:
        return dict(store_leases.read_leases(conn)[["target", "owner"]].itertuples(index=False))
    finally:
        conn.close()


class FakeClock:
    """A monotonic clock that moves only when told (seconds)."""

    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


def _silent_for(url, member: str, ms: int) -> None:
    """The database's clock moved ``ms`` past ``member``'s last beat: its heartbeat and leases are that much older."""
    conn = db.connect_writer(url)
    try:
        with db.transaction(conn):
            conn.execute("UPDATE collector_members SET heartbeat_ms = heartbeat_ms - ? WHERE member = ?", (ms, member))
            conn.execute("UPDATE target_leases SET expires_ms = expires_ms - ?, renewed_ms = renewed_ms - ? "
                         "WHERE owner = ?", (ms, ms, member))
    finally:
        conn.close()


def test_each_target_has_one_owner_and_a_dead_member_is_taken_over(pg_store):
    targets = ["kafka:a", "kafka:b", "rabbitmq:c", "rabbitmq:d", "telemetry:kafka:e", "kafka:f"]
    ttl = 0.9
    clock = FakeClock()
    ms = [LeaseManager(lambda: db.connect_writer(pg_store), targets, ttl, member=f"m{i}", clock=clock)
          for i in range(3)]
    for _ in range(2):  # first beats see the others only once they have beaten too
        for m in ms:
            m.beat()
    for m in ms:
        m.beat()
    held = {m.member: set(m.held()) for m in ms}
    every = targets + [SINGLETON]
    assert sorted(t for h in held.values() for t in h) == sorted(every)  # each target once
    assert _owners(pg_store) == {t: m for m, h in held.items() for t in h}
    assert {m.member: set(m.held()) for m in ms} == {
        m.member: {t for t in every if rendezvous_owner(t, ["m0", "m1", "m2"]) == m.member} for m in ms}
    # m0 stops beating (killed): after the ttl its targets go to the others, each to one of them
    dead = set(ms[0].held())
    clock.advance(ttl * 2 / 3)  # a beat's validity is ttl less one beat: m0 no longer acts on what it held
    assert dead and ms[0].held() == [] and not any(ms[0].allows(t) for t in dead if t != SINGLETON)
    _silent_for(pg_store, "m0", int(ttl * 1000) + 1)  # and for the others it is dead once ttl has passed
    for m in ms[1:]:
        m.beat()
    for m in ms[1:]:
        m.beat()
    after = {m.member: set(m.held()) for m in ms[1:]}
    assert sorted(t for h in after.values() for t in h) == sorted(every)
    assert dead and all(any(t in h for h in after.values()) for t in dead)
    assert set(_owners(pg_store).values()) <= {"m1", "m2"}
    # a member leaving releases at once; the other takes everything at its next beat
    ms[1].leave()
    ms[2].beat()
    assert set(ms[2].held()) == set(every) and set(_owners(pg_store).values()) == {"m2"}
    ms[2].leave()
    assert _owners(pg_store) == {}


def test_a_returning_member_gets_its_targets_back_without_overlap(pg_store):
    targets = [f"kafka:t{i}" for i in range(8)]
    a = LeaseManager(lambda: db.connect_writer(pg_store), targets, 5.0, member="a")
    a.beat()
    assert set(a.held()) == set(targets) | {SINGLETON}
    b = LeaseManager(lambda: db.connect_writer(pg_store), targets, 5.0, member="b")
    b.beat()  # b is live now, but a still holds b's targets: b waits
    assert b.held() == []
    a.beat()  # a sees b and releases what b wins
    b.beat()
    want_b = {t for t in [*targets, SINGLETON] if rendezvous_owner(t, ["a", "b"]) == "b"}
    assert want_b and set(b.held()) == want_b and not set(a.held()) & want_b
    a.leave()
    b.leave()


def test_allows_gates_collectors_and_housekeeping_only(pg_store):
    m = LeaseManager(lambda: db.connect_writer(pg_store), ["kafka:x"], 5.0, member="solo")
    assert not m.allows("kafka:x") and not m.allows("store:seal") and m.allows("dlq:replay-jobs")
    m.beat()
    assert m.allows("kafka:x") and m.allows("store:seal") and not m.allows("kafka:other")
    m.leave()


class _Leases:
    """A stand-in lease manager holding ``held`` (the gating logic of the service is what is tested)."""

    member = "me"

    def __init__(self, held):
        self.held_set = set(held)
        self._lock = threading.Lock()
        self._since = {t: 0 for t in held}

    def holds(self, target):
        return target in self.held_set

    def allows(self, job_id, slot_ms=None):
        return LeaseManager.allows(self, job_id, slot_ms)

    def beat(self):
        pass

    def leave(self):
        pass


def test_service_runs_only_what_its_leases_allow(tmp_path):
    from config import Settings
    from runner.jobs import JobSpec
    from eventdeck.service import Service

    ran: list[str] = []
    specs = [JobSpec(i, (lambda i=i: ran.append(i)), 0.1) for i in
             ("kafka:mine", "kafka:theirs", "store:seal", "dlq:replay-jobs")]
    hooks = [lambda: ran.append("hook")]
    for held, want in (({"kafka:mine"}, {"kafka:mine", "dlq:replay-jobs"}),
                       ({"kafka:mine", SINGLETON}, {"kafka:mine", "store:seal", "dlq:replay-jobs"})):
        ran.clear()
        svc = Service(settings=Settings(), store=tmp_path / "x.db", specs=specs, hooks=hooks,
                      leases=_Leases(held)).start()
        deadline = time.monotonic() + 10
        while not want <= set(ran) and time.monotonic() < deadline:
            time.sleep(0.05)
        svc._run_hooks()  # what the service:alerts job does
        svc.stop()
        assert want <= set(ran) and "kafka:theirs" not in ran and ("store:seal" in ran) == (SINGLETON in held)
        # hooks never follow collector ticks in lease mode; service:alerts runs them on the singleton holder
        assert ran.count("hook") == (1 if SINGLETON in held else 0)


def test_a_new_holder_collects_only_slots_starting_after_it_took_the_lease(pg_store):
    m = LeaseManager(lambda: db.connect_writer(pg_store), ["kafka:x"], 5.0, member="late")
    m.beat()
    taken = m._since["kafka:x"]
    # the previous holder may have collected the slot in progress: not this member
    assert not m.allows("kafka:x", taken - 1) and m.allows("kafka:x", taken) and m.allows("kafka:x", taken + 3_000)
    m.beat()  # renewing keeps the time it was taken
    assert m._since["kafka:x"] == taken
    m.leave()
