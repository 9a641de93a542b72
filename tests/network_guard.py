"""The network guard of the unit tests (installed for every unit test by tests/unit/conftest.py):
connecting or sending through an internet socket (IPv4 or IPv6, loopback included) and resolving a
host name raise :class:`NetworkBlocked`. Unix-domain sockets stay allowed (``socket.socketpair``,
local IPC). Code that opens sockets below Python (a C client library) is not seen by this guard.
"""
from __future__ import annotations

import ipaddress
import socket
from typing import Any, Callable

import pytest


class NetworkBlocked(RuntimeError):
    """A unit test tried to use the network. Not an OSError, so code that handles connection
    errors does not mistake it for a refused connection."""


_LOCAL_NAMES = {None, "", "localhost"}


def _is_literal(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host in _LOCAL_NAMES:
        return True
    try:
        ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return False
    return True


def install(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Patch the socket module for one test (undone with ``monkeypatch``); returns the list that
    collects every refused attempt."""
    attempts: list[str] = []

    def refuse(what: str) -> NetworkBlocked:
        attempts.append(what)
        return NetworkBlocked(f"unit tests must not use the network: {what} (move the test to tests/integration)")

    def guard_socket(name: str) -> None:
        real: Callable[..., Any] = getattr(socket.socket, name)

        def guarded(self: socket.socket, *args: Any, **kwargs: Any) -> Any:
            if self.family == getattr(socket, "AF_UNIX", None):
                return real(self, *args, **kwargs)
            raise refuse(f"socket.{name}{args!r}")
        monkeypatch.setattr(socket.socket, name, guarded)

    def guard_lookup(name: str) -> None:
        real: Callable[..., Any] = getattr(socket, name)

        def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
            if _is_literal(host):  # an address or localhost: answered without asking a DNS server
                return real(host, *args, **kwargs)
            raise refuse(f"socket.{name}({host!r})")
        monkeypatch.setattr(socket, name, guarded)

    for name in ("connect", "connect_ex", "sendto", "sendmsg"):
        guard_socket(name)
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        guard_lookup(name)
    return attempts
