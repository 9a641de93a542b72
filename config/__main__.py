"""Configuration tools: ``python -m config hash-password`` prints a hash for ``dashboard.users``;
``python -m config check FILE`` prints every problem of a configuration file, each with its key."""
from __future__ import annotations

import argparse
import getpass
import sys

from config.check import problems
from config.dashboard import hash_password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config")
    sub = parser.add_subparsers(dest="command", required=True)
    hp = sub.add_parser("hash-password", help="read a password and print its scrypt hash")
    hp.add_argument("--stdin", action="store_true", help="read the password from stdin (no prompt)")
    ck = sub.add_parser("check", help="validate a configuration file without starting anything")
    ck.add_argument("file", help="YAML settings file (EVENTDECK_* overrides from the environment apply)")
    args = parser.parse_args(argv)
    if args.command == "check":
        found = problems(args.file)
        for line in found:
            print(f"{args.file}: {line}")
        if found:
            print(f"{len(found)} problem(s) in {args.file}", file=sys.stderr)
            return 1
        print(f"{args.file}: ok")
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
