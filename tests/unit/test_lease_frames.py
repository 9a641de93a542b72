"""The System page's collector-process tables (pure frames)."""
from __future__ import annotations

import pandas as pd

from views.lease_frames import collector_members, target_leases

NOW = 1_000_000


def test_members_show_beat_age_and_the_targets_they_hold_now():
    members = pd.DataFrame({"member": ["a", "b"], "host": ["h1", "h2"], "pid": [1, 2],
                            "started_ms": [NOW - 60_000, NOW - 5_000], "heartbeat_ms": [NOW - 500, NOW - 9_000],
                            "targets": [["kafka:x", "kafka:y"], ["kafka:x", "kafka:y"]]})
    leases = pd.DataFrame({"target": ["kafka:x", "kafka:y", "service:housekeeping"], "owner": ["a", "b", "a"],
                           "acquired_ms": [NOW - 50_000, NOW - 20_000, NOW - 50_000],
                           "renewed_ms": [NOW - 500, NOW - 9_000, NOW - 500],
                           "expires_ms": [NOW + 1_000, NOW - 1_000, NOW + 1_000]})
    df = collector_members(members, leases, NOW)
    assert df.to_dict("records") == [
        {"member": "a", "host": "h1", "pid": 1, "last beat (s ago)": 0.5, "up for (s)": 60.0,
         "holds": "kafka:x, service:housekeeping", "configured": 2},
        {"member": "b", "host": "h2", "pid": 2, "last beat (s ago)": 9.0, "up for (s)": 5.0, "holds": "",
         "configured": 2}]  # b's lease expired: it holds nothing any more
    t = target_leases(leases, NOW)
    assert t[["target", "owner", "lease age (s)", "expires in (s)"]].values.tolist() == [
        ["kafka:x", "a", 50.0, 1.0], ["kafka:y", "b", 20.0, -1.0], ["service:housekeeping", "a", 50.0, 1.0]]


def test_no_leases():
    members = pd.DataFrame({"member": ["a"], "host": ["h"], "pid": [1], "started_ms": [NOW], "heartbeat_ms": [NOW],
                            "targets": [[]]})
    empty = pd.DataFrame(columns=["target", "owner", "acquired_ms", "renewed_ms", "expires_ms"])
    assert collector_members(members, empty, NOW)["holds"].tolist() == [""]
    assert target_leases(empty, NOW).empty
