"""The System page says when an up target is only partly collected (runner.collect: collector_degraded and
the status reason), with the reason as inert text; a whole target shows no such warning."""
from __future__ import annotations

import time

from store import status
from store.db import open_migrated
from tests import seed

HOSTILE_GROUP = "**orders** <b>x</b>"


def test_an_up_but_degraded_target_is_shown_with_its_reason(seeded):
    at = seeded()
    at.switch_page("views/system.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("part of it failed" in w.value for w in at.warning)  # the seeded targets are whole
    conn = open_migrated(seeded.store)
    try:
        status.set_status(conn, f"kafka:{seed.KAFKA}", True,
                          f"degraded, 1 part(s) failed: group {HOSTILE_GROUP}: GroupAuthorizationFailedError",
                          int(time.time() * 1000), 120)
    finally:
        conn.close()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [w.value for w in at.warning if "part of it failed" in w.value]
    assert len(shown) == 1 and f"kafka:{seed.KAFKA}" in shown[0].replace("\\", ""), shown
    assert "GroupAuthorizationFailedError" in shown[0] and "**orders**" not in shown[0]  # escaped, not bold
