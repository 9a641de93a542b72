"""kafka-python settings built from a cluster's config (collectors.kafka.client_config)."""
import pytest

from collectors.kafka import client_config
from config import ConfigError
from config.kafka import KafkaClusterConfig


def cluster(**options):
    return KafkaClusterConfig(name="prod", bootstrap_servers=["k1:9092", "k2:9092"], request_timeout_ms=5_000,
                              client_options=options)


def test_defaults_and_pass_through(monkeypatch):
    monkeypatch.setenv("KAFKA_PW", "s3cret")
    conf = client_config(cluster(security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
                                 sasl_plain_username="ed", sasl_plain_password="env:KAFKA_PW"))
    assert conf["bootstrap_servers"] == ["k1:9092", "k2:9092"]
    # a down cluster must not hold the job longer than a request timeout
    assert conf["bootstrap_timeout_ms"] == conf["request_timeout_ms"] == 5_000
    assert conf["security_protocol"] == "SASL_SSL" and conf["sasl_plain_username"] == "ed"
    assert conf["sasl_plain_password"] == "s3cret"  # "env:NAME" resolved as a secret


@pytest.mark.parametrize(
    "options, named",
    [
        # a secret that is not set: the key and the variable are named, no value shown
        ({"sasl_plain_password": "env:NOT_SET_ANYWHERE_4711"}, "client_options.sasl_plain_password"),
        # a typo in a kafka-python setting is refused at start, not at the first collection
        ({"sasl_mechanisms": "PLAIN"}, "client_options.sasl_mechanisms"),
        # settings owned by the cluster's own keys cannot be overridden through the pass-through
        ({"bootstrap_servers": ["evil:9092"]}, "client_options.bootstrap_servers"),
    ],
)
def test_bad_options_name_the_key(options, named, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE_4711", raising=False)
    monkeypatch.delenv("EVENTDECK_SECRETS_FILE", raising=False)
    with pytest.raises(ConfigError) as err:
        client_config(cluster(**options))
    assert named in str(err.value) and "kafka.clusters[prod]" in str(err.value)
