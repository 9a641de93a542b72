"""Password hashes of dashboard users and `python -m config hash-password`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, load_settings
from config.dashboard import hash_password, verify_password

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stored_for, given, ok", [
    ("s3cret", "s3cret", True),     # the right password
    ("s3cret", "s3cre", False),     # a prefix is not enough
    ("s3cret", "S3CRET", False),    # case matters
    ("pässwörd", "pässwörd", True), # non-ASCII passwords round-trip
])
def test_verify(stored_for, given, ok):
    assert verify_password(given, hash_password(stored_for)) is ok


def test_hashes_are_salted():
    assert hash_password("x") != hash_password("x")


def test_clear_password_in_config_is_refused_naming_the_key():
    env = {"EVENTDECK_DASHBOARD__AUTH": "password",
           "EVENTDECK_DASHBOARD__USERS": '[{name: a, role: operator, password_hash: "hunter2"}]'}
    with pytest.raises(ConfigError, match=r"dashboard\.users\[0\]\.password_hash"):
        load_settings(environ=env)


def test_cli_prints_a_verifiable_hash():
    out = subprocess.run([sys.executable, "-m", "config", "hash-password", "--stdin"], input="pw\n", cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert out.startswith("scrypt$") and verify_password("pw", out)
