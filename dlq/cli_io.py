"""What the operator CLIs (``eventdeck group``, ``queue``, ``dlq search|export``) share: the audited store
they write to, and one mapping of their failures to messages and exit codes."""
from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

from config import ConfigError, Settings
from dlq.context import ReplayError
from store.db import NotMigrated
from store.handle import Connection, StoreUnreachable

# failures a command reports as "error: ..." (exit 1): bad settings or arguments, a broker that refused or
# is down, a store that is missing, behind this code, or unreachable
ERRORS: tuple[type[Exception], ...] = (ConfigError, ReplayError, ValueError, FileNotFoundError, NotMigrated,
                                       StoreUnreachable)


@contextlib.contextmanager
def audited_store(settings: Settings) -> Iterator[Connection]:
    """A writer on the configured store (SQLite or PostgreSQL), once it is known to exist and be migrated:
    every change an operator makes from a shell is audited there."""
    store = settings.store.handle
    with store.reading() as conn:
        store.require_migrated(conn)
    with store.writing() as conn:
        yield conn


def exit_code(run: Callable[[], int], refused: tuple[type[Exception], ...]) -> int:
    """``run()``'s exit code; a refusal prints "refused: ..." and an error "error: ...", both exit 1."""
    try:
        return run()
    except refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    except ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
