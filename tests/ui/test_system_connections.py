"""System page: the crc32c check, and the "Test connection" button (operators only) that names the failing
step per cluster and client. The seeded clusters: Kafka on 127.0.0.1:9 (nothing listens), the local
RabbitMQ node, and a RabbitMQ whose management port is closed."""
from __future__ import annotations

from tests import seed
from tests.ui.conftest import sign_in, table_with


def test_operator_tests_the_connections_and_sees_the_failing_step(seeded, rabbitmq):
    at = sign_in(seeded(auth="password"), "otto", seed.USERS["otto"][1])
    at.switch_page("views/system.py").run()
    assert any("crc32c extension importable" in c.value for c in at.caption)
    at.button(key="sys_test_connection").click().run()
    rows = table_with(at, "step").set_index(["cluster", "client"])
    kafka = rows.loc[(seed.KAFKA, "kafka")]
    assert (kafka["result"], kafka["step"]) == ("failed", "TCP connect")
    assert kafka["change"] == f"kafka.clusters[{seed.KAFKA}].bootstrap_servers"
    assert rows.loc[(seed.RABBIT_DOWN, "management")]["step"] == "TCP connect"
    assert rows.loc[(seed.RABBIT, "management")]["result"] == "ok"


def test_viewer_cannot_test_connections(seeded):
    at = sign_in(seeded(auth="password"), "vera", seed.USERS["vera"][1])
    at.switch_page("views/system.py").run()
    assert at.button(key="sys_test_connection").disabled
    assert any("needs the operator role" in c.value for c in at.caption)
