"""Configuration tools: ``python -m config hash-password`` prints a hash for ``dashboard.users``;
``python -m config check FILE`` prints every problem of a configuration file, each with its key.
An entry point from a shell (``eventdeck config``): the check itself is ``eventdeck.check``, above
``config`` and ``brokers``."""
from __future__ import annotations

import argparse
import getpass
import sys

from config.dashboard import hash_password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config")
    sub = parser.add_subparsers(dest="command", required=True)
    hp = sub.add_parser("hash-password", help="read a password and print its scrypt hash")
    hp.add_argument("--stdin", action="store_true", help="read the password from stdin (no prompt)")
    ck = sub.add_parser("check", help="validate a configuration file without starting anything")
    ck.add_argument("file", help="YAML settings file (EVENTDECK_* overrides from the environment apply)")
    ck.add_argument("--connect", nargs="?", const="*", metavar="CLUSTER",
                    help="also connect to every cluster (or CLUSTER) and name the step that fails: DNS, TCP "
                         "connect, TLS, authentication, authorisation (each bounded by the cluster's timeout)")
    args = parser.parse_args(argv)
    if args.command == "check":
        from eventdeck.check import problems
        found = problems(args.file)
        for line in found:
            print(f"{args.file}: {line}")
        if found:
            print(f"{len(found)} problem(s) in {args.file}", file=sys.stderr)
            return 1
        from eventdeck.check import crc32c_line
        print(f"{args.file}: {crc32c_line()}")
        print(f"{args.file}: ok")
        if args.connect:
            from eventdeck.check import connect
            lines, failed = connect(args.file, None if args.connect == "*" else args.connect)
            for line in lines:
                print(line)
            if failed:
                print(f"{failed} connection check(s) failed", file=sys.stderr)
                return 1
        return 0
    if args.command == "hash-password":
        if args.stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("password: ")
            if getpass.getpass("again: ") != password:
                print("passwords differ", file=sys.stderr)
                return 2
        if not password:
            print("empty password", file=sys.stderr)
            return 2
        print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
