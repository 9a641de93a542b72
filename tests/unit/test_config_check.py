"""eventdeck.check (config check): every problem of a configuration is reported, each naming its key; none for a good one."""
from __future__ import annotations

from pathlib import Path

import pytest

from eventdeck.check import problems

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "eventdeck.example.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_example_has_no_problem():
    assert problems(EXAMPLE, environ={}) == []


@pytest.mark.parametrize("text, keys", [
    ("stor: {}\ndashboard:\n  port: 0\n  refresh_s: -1\n",
     ["stor: unknown key", "dashboard.port", "dashboard.refresh_s"]),
    ("kafka:\n  clusters:\n    - name: a\n      bootstrap_servers: ['h:1']\n      client_options:\n"
     "        no_such_option: 1\n        sasl_plain_password: env:EVENTDECK_TEST_UNSET_SECRET\n",
     ["kafka.clusters[a].client_options.no_such_option", "kafka.clusters[a].client_options.sasl_plain_password"]),
    ("rabbitmq:\n  clusters:\n    - name: r\n      management_url: http://rabbit.example:15672\n"
     "      password_env: EVENTDECK_TEST_UNSET_PW\n",
     ["rabbitmq.clusters[0].password_env"]),
    ("store: [1, 2]\n", ["store"]),
])
def test_every_problem_named(tmp_path, monkeypatch, text, keys):
    monkeypatch.delenv("EVENTDECK_TEST_UNSET_SECRET", raising=False)
    monkeypatch.delenv("EVENTDECK_TEST_UNSET_PW", raising=False)
    found = problems(_write(tmp_path, text), environ={})
    assert len(found) == len(keys), found
    for key in keys:
        assert sum(line.startswith(key) for line in found) == 1, (key, found)


def test_unreadable_file_is_one_problem(tmp_path):
    found = problems(tmp_path / "missing.yaml", environ={})
    assert len(found) == 1 and "does not exist" in found[0]
