"""Password hashes of dashboard users and `python -m config hash-password`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_settings
from config.dashboard import hash_password, verify_password

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hashes() -> dict[str, str]:
    """Each hash costs ~0.3 s or more (N = 2^17): made once per module."""
    return {p: hash_password(p) for p in ("s3cret", "pässwörd")}


@pytest.mark.parametrize("stored_for, given, ok", [
    ("s3cret", "s3cret", True),     # the right password
    ("s3cret", "s3cre", False),     # a prefix is not enough
    ("s3cret", "S3CRET", False),    # case matters
    ("pässwörd", "pässwörd", True), # non-ASCII passwords round-trip
])
def test_verify(hashes, stored_for, given, ok):
    assert verify_password(given, hashes[stored_for]) is ok


def test_hashes_are_salted_and_strong(hashes):
    again = hash_password("s3cret")
    assert again != hashes["s3cret"]
    _, n, r, p, _, _ = again.split("$")
    assert (int(n), int(r), int(p)) == (2 ** 17, 8, 1)


def _weak(n: int = 2 ** 17, r: int = 8, p: int = 1, salt: bytes = b"s" * 16) -> str:
    import base64
    d = b"d" * 32  # the parameters are refused before any digest is compared
    return f"scrypt${n}${r}${p}${base64.b64encode(salt).decode()}${base64.b64encode(d).decode()}"


@pytest.mark.parametrize("stored, why", [
    (_weak(n=2 ** 14), "the old default N = 2^14"),
    (_weak(n=2 ** 16), "below 2^17"),
    (_weak(n=2 ** 17 + 1), "not a power of two"),
    (_weak(n=2 ** 21), "beyond 2^20: a hash must not cost the server seconds and GiBs"),
    (_weak(r=4), "r must be 8"),
    (_weak(p=0), "p >= 1"),
    (_weak(salt=b"short"), "a salt of at least 16 bytes"),
])
def test_weak_hashes_are_refused_at_load_naming_the_key(stored, why):
    env = {"EVENTDECK_DASHBOARD__AUTH": "password",
           "EVENTDECK_DASHBOARD__USERS": f'[{{name: a, role: operator, password_hash: "{stored}"}}]'}
    with pytest.raises(ConfigError, match=r"dashboard\.users\[0\]\.password_hash") as exc:
        load_settings(environ=env)
    assert stored not in str(exc.value), "the hash itself is never echoed"


def test_clear_password_in_config_is_refused_naming_the_key():
    env = {"EVENTDECK_DASHBOARD__AUTH": "password",
           "EVENTDECK_DASHBOARD__USERS": '[{name: a, role: operator, password_hash: "hunter2"}]'}
    with pytest.raises(ConfigError, match=r"dashboard\.users\[0\]\.password_hash"):
        load_settings(environ=env)


def test_cli_prints_a_verifiable_hash():
    out = subprocess.run([sys.executable, "-m", "config", "hash-password", "--stdin"], input="pw\n", cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert out.startswith("scrypt$") and verify_password("pw", out)
