"""``python -m store migrate --store PATH``: create the store if needed and apply pending migrations
(the collector service does the same at start; the dashboard only reads a migrated store)."""
from __future__ import annotations

import argparse
import sys

from store.db import MigrationError
from store.handle import Store, StoreUnreachable


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m store", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    mig = sub.add_parser("migrate", help="apply pending migrations")
    mig.add_argument("--store", default=None, help="SQLite store path or postgresql:// URL (default: the "
                     "configured store, settings from --config or $EVENTDECK_CONFIG)")
    mig.add_argument("--config", help="settings YAML (default $EVENTDECK_CONFIG)")
    args = ap.parse_args(argv)
    try:
        if args.store:
            store = Store.of(args.store)
        else:
            from config import ConfigError, load_settings

            try:
                store = load_settings(args.config).store.handle
            except ConfigError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        store.migrate()
    except (MigrationError, StoreUnreachable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"store {store.display} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
