"""Pure frames of the System page's collector-processes section (members and their target leases)."""
from __future__ import annotations

import pandas as pd


def collector_members(members: pd.DataFrame, leases: pd.DataFrame, now_ms: int) -> pd.DataFrame:
    """One row per collector process: member, host, pid, seconds since its last beat, up for (s), the targets
    it holds now (lease not expired) out of those it is configured for."""
    live = leases[leases["expires_ms"] > now_ms] if len(leases) else leases
    held = live.groupby("owner")["target"].apply(lambda s: ", ".join(sorted(s))).to_dict() if len(live) else {}
    return pd.DataFrame({
        "member": members["member"], "host": members["host"], "pid": members["pid"],
        "last beat (s ago)": ((now_ms - members["heartbeat_ms"]) / 1000).round(1),
        "up for (s)": ((now_ms - members["started_ms"]) / 1000).round(0),
        "holds": [held.get(m, "") for m in members["member"]],
        "configured": [len(t) for t in members["targets"]],
    })


def target_leases(leases: pd.DataFrame, now_ms: int) -> pd.DataFrame:
    """One row per target: owner, lease age (since taken), last renewal (s ago), expires in (s; negative:
    expired, a new owner takes it at its next beat)."""
    return pd.DataFrame({
        "target": leases["target"], "owner": leases["owner"],
        "lease age (s)": ((now_ms - leases["acquired_ms"]) / 1000).round(1),
        "renewed (s ago)": ((now_ms - leases["renewed_ms"]) / 1000).round(1),
        "expires in (s)": ((leases["expires_ms"] - now_ms) / 1000).round(1),
    })
