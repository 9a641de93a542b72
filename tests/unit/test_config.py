"""Config: bad input is refused naming the key; overrides from the environment; example documents every key."""
from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from config import ConfigError, Settings, load_settings, secret
from config.settings import env_overrides

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "eventdeck.example.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "eventdeck.yaml"
    p.write_text(text)
    return p


BAD = [
    # (yaml, expected fragment of the message) — each names the key at fault
    ("stor:\n  path: x.db\n", "stor: unknown key"),  # typo in a section name
    ("store:\n  path: ''\n", "store.path"),  # empty path would write to the cwd
    ("store:\n  retention:\n    raw_hours: -1\n", "store.retention.raw_hours"),  # impossible value
    ("store:\n  retention:\n    raw_hours: lots\n", "store.retention.raw_hours"),  # wrong type
    ("kafka:\n  clusters:\n    - name: a\n", "kafka.clusters[0].bootstrap_servers"),  # required key missing
    ("kafka:\n  clusters:\n    - name: a\n      bootstrap_servers: [localhost]\n",
     "kafka.clusters[0].bootstrap_servers"),  # no port
    ("kafka:\n  clusters:\n    - name: a\n      bootstrap_servers: ['h:1']\n      interval_s: 0\n",
     "kafka.clusters[0].interval_s"),  # a zero interval would spin
    ("kafka:\n  clusters:\n    - name: 'a b'\n      bootstrap_servers: ['h:1']\n",
     "kafka.clusters[0].name"),  # names go into labels and URLs
    ("rabbitmq:\n  clusters:\n    - name: r\n      password: guest\n",
     "rabbitmq.clusters[0].password: unknown key"),  # secrets are not accepted in the file
    ("rabbitmq:\n  clusters:\n    - name: r\n      management_url: ftp://x\n",
     "rabbitmq.clusters[0].management_url"),
    ("dashboard:\n  address: 0.0.0.0\n", "loopback"),  # no auth on a public address
    ("dashboard:\n  auth: password\n", "users"),  # password auth without users
    ("dashboard:\n  port: 70000\n", "dashboard.port"),
    ("demo:\n  failure_probability: 1.5\n", "demo.failure_probability"),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("store: [\n", "not valid YAML"),
]


@pytest.mark.parametrize("text,fragment", BAD)
def test_bad_input_is_refused_naming_the_key(tmp_path, text, fragment):
    with pytest.raises(ConfigError) as err:
        load_settings(_write(tmp_path, text), environ={})
    assert fragment in str(err.value)


def test_missing_file_says_which(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_defaults_without_file():
    s = load_settings(environ={})
    assert s == Settings()
    assert not s.has_brokers
    assert s.dashboard.address == "127.0.0.1"


def test_environment_overrides_file(tmp_path):
    p = _write(tmp_path, "store:\n  path: a.db\ndashboard:\n  port: 8600\n")
    s = load_settings(p, environ={"EVENTDECK_STORE__PATH": "b.db", "EVENTDECK_KAFKA__CLUSTERS":
                                  '[{name: k, bootstrap_servers: ["127.0.0.1:9092"]}]'})
    assert s.store.path == "b.db"
    assert s.dashboard.port == 8600
    assert s.kafka.clusters[0].bootstrap_servers == ["127.0.0.1:9092"]


def test_environment_override_errors_name_the_variable_key():
    with pytest.raises(ConfigError, match=r"dashboard\.port"):
        load_settings(environ={"EVENTDECK_DASHBOARD__PORT": "-3"})
    with pytest.raises(ConfigError, match="EVENTDECK_X____Y"):
        env_overrides({"EVENTDECK_X____Y": "1"})


@pytest.mark.parametrize("name", [
    "EVENTDECK_CONFIG",             # the file name itself, not a key
    "EVENTDECK_SECRETS_FILE",       # where secrets live
    "EVENTDECK_RABBITMQ_PASSWORD",  # the default rabbitmq password_env
    "EVENTDECK_SLACK_URL",          # an apprise URL named by alerts.notify_env, as the example suggests
])
def test_non_setting_variables_are_not_overrides(name):
    assert env_overrides({name: "json://x"}) == {}


def test_a_secret_variable_does_not_stop_start_up():
    assert load_settings(environ={"EVENTDECK_SLACK_URL": "json://x"}) == Settings()


def test_whole_section_override():
    # why: a variable naming a section (no __) sets the section from a YAML mapping
    assert load_settings(environ={"EVENTDECK_STORE": "{path: c.db}"}).store.path == "c.db"


def test_secret_from_environment_or_secrets_file(tmp_path):
    f = tmp_path / "secrets.env"
    f.write_text("KAFKA_PASSWORD=s3cret\n")
    assert secret("KAFKA_PASSWORD", {"EVENTDECK_SECRETS_FILE": str(f)}) == "s3cret"
    assert secret("KAFKA_PASSWORD", {"KAFKA_PASSWORD": "env", "EVENTDECK_SECRETS_FILE": str(f)}) == "env"
    assert secret("MISSING", {}) is None


def _field_names(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, f in model.model_fields.items():
        names.add(name)
        for arg in [f.annotation, *typing.get_args(f.annotation)]:
            for inner in [arg, *typing.get_args(arg)]:
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    names |= _field_names(inner)
    return names


def test_example_loads_and_documents_every_key():
    text = EXAMPLE.read_text()
    assert load_settings(EXAMPLE, environ={}) == Settings()
    missing = [n for n in sorted(_field_names(Settings))
               if not re.search(rf"(^|[\s{{,#-]){re.escape(n)}:", text, re.M)]
    assert missing == [], f"keys not documented in {EXAMPLE.name}: {missing}"


def test_allowed_targets_must_name_a_configured_cluster():
    env = {"EVENTDECK_KAFKA__CLUSTERS": '[{name: k, bootstrap_servers: ["127.0.0.1:9092"]}]',
           "EVENTDECK_DLQ__ALLOWED_TARGETS": '{kk: ["orders"]}'}
    with pytest.raises(ConfigError, match=r"dlq\.allowed_targets: 'kk' is not a configured cluster"):
        load_settings(environ=env)
    env["EVENTDECK_DLQ__ALLOWED_TARGETS"] = '{k: ["orders", "exchange:x"]}'
    assert load_settings(environ=env).dlq.allowed_targets == {"k": ["orders", "exchange:x"]}
