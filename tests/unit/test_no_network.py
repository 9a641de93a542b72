"""The unit-test network guard (tests/network_guard.py, installed by tests/unit/conftest.py) refuses internet sockets and DNS, allows Unix sockets."""
from __future__ import annotations

import socket

import pytest

from tests.network_guard import NetworkBlocked


@pytest.mark.parametrize("attempt", [
    lambda: socket.create_connection(("127.0.0.1", 9), timeout=1),
    lambda: socket.create_connection(("::1", 9), timeout=1),
    lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect_ex(("10.0.0.1", 80)),
    lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", 9)),
    lambda: socket.getaddrinfo("example.com", 443),
    lambda: socket.gethostbyname("example.com"),
])
def test_internet_sockets_and_lookups_are_refused(no_network, attempt):
    with pytest.raises(NetworkBlocked):
        attempt()
    assert len(no_network) == 1
    no_network.clear()  # the refusal was the point of this test; don't fail it at teardown


def test_refusal_is_not_an_oserror():
    # code under test that handles a refused connection must not hide a test reaching the network
    assert not issubclass(NetworkBlocked, OSError)


def test_unix_sockets_and_literal_addresses_still_work(tmp_path):
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"ping")
        assert b.recv(4) == b"ping"
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(path)
        server.listen()
        client.connect(path)
    assert socket.getaddrinfo("127.0.0.1", 80, proto=socket.IPPROTO_TCP)[0][4] == ("127.0.0.1", 80)
