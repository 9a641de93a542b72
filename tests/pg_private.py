"""A PostgreSQL instance of a test's own (initdb into a temporary directory, pg_ctl on a free port with its own
socket directory), for what the machine's shared cluster must never be put through: restarts, TLS.

Run as the ``postgres`` user through ``runuser`` (the tests run as root). Missing binaries fail the test with
the command that installs them.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest

from demo.brokers import free_port

INSTALL = "apt-get install -y postgresql (scripts/system-deps.sh installs it)"


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL's {name} is needed for a private test instance and is missing: {INSTALL}",
                    pytrace=False)
    return found[-1]


class PrivatePostgres:
    """One private instance: ``start()``, ``stop()``, ``url(db)``, ``admin(sql)``; ``remove()`` at the end."""

    def __init__(self, conf: dict[str, str] | None = None, hba: list[str] | None = None,
                 files: dict[str, bytes] | None = None) -> None:
        try:
            self.user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail(f"the postgres user is missing: {INSTALL}", pytrace=False)
        self.base = Path(tempfile.mkdtemp(prefix="eventdeck-pg-"))  # not under pytest's 0700 root tmp
        self.data = self.base / "data"
        self.sockets = self.base / "sock"
        self.sockets.mkdir()
        self.port = free_port()
        for name, content in (files or {}).items():  # certificates, keys: readable by postgres alone
            (self.base / name).write_bytes(content)
            os.chmod(self.base / name, 0o600)
        self._chown()
        self._run(_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8")
        settings = {"port": str(self.port), "unix_socket_directories": f"'{self.sockets}'",
                    "listen_addresses": "'127.0.0.1'", "fsync": "off", "synchronous_commit": "off",
                    "full_page_writes": "off", **(conf or {})}
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as f:
            f.writelines(f"{k} = {v}\n" for k, v in settings.items())
        if hba is not None:
            (self.data / "pg_hba.conf").write_text("local all all trust\n" + "\n".join(hba) + "\n")
        self._chown()
        self.start()

    def _chown(self) -> None:
        for root, dirs, files in os.walk(self.base):
            for n in [root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)]:
                os.chown(n, self.user.pw_uid, self.user.pw_gid)

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            log = (self.base / "log").read_text()[-2000:] if (self.base / "log").exists() else ""
            pytest.fail(f"{' '.join(cmd)} failed: {r.stderr or r.stdout}\n{log}", pytrace=False)
        return r

    def start(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def admin(self, sql: str, db: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host=str(self.sockets), port=self.port, user="postgres", dbname=db,
                             autocommit=True) as conn:
            conn.execute(sql)

    def url(self, db: str, user: str = "postgres", host: str | None = None) -> str:
        """A store URL of database ``db``: over the socket directory, or TCP to ``host``."""
        if host is None:
            return f"postgresql://{user}@/{db}?host={quote(str(self.sockets), safe='')}&port={self.port}"
        return f"postgresql://{user}@{host}:{self.port}/{db}"

    def remove(self) -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.base, ignore_errors=True)
