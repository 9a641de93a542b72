"""Allow/deny and DLQ glob matching (brokers.naming), shared by the Kafka and RabbitMQ collectors."""
import pytest

from brokers.naming import allowed, convention_sources, is_dlq
from config.kafka import DEFAULT_DLQ_PATTERNS


@pytest.mark.parametrize(
    "name, allow, deny, expected",
    [
        ("orders", ["*"], [], True),  # default allow-all lets anything in
        ("__consumer_offsets", ["*"], ["__*"], False),  # deny wins over allow
        ("orders", ["pay*"], [], False),  # not in the allow list
        ("payments", ["pay*", "ord*"], [], True),  # any allow pattern suffices
        ("payments", [], [], False),  # an empty allow list admits nothing
        ("Orders", ["orders"], [], False),  # matching is case-sensitive, like Kafka names
        ("a.b", ["a?b"], [], True),  # ? matches exactly one character, also a dot
    ],
)
def test_allowed(name, allow, deny, expected):
    assert allowed(name, allow, deny) is expected


@pytest.mark.parametrize(
    "name, exclude, expected",
    [
        ("orders.dlq", [], True),  # suffix .dlq
        ("orders-dlq", [], True),  # suffix -dlq
        ("orders.DLT", [], True),  # Spring Kafka's dead-letter topic suffix
        ("orders-dlt", [], True),  # lower-case -dlt
        ("orders_dlq", [], True),  # underscore variant
        ("dlq.orders", [], True),  # prefix form
        ("orders.dlq.stats", [], False),  # dlq in the middle is not a DLQ
        ("orders", [], False),  # a plain topic
        ("orders.DLQ", [], False),  # case-sensitive: .DLQ is not in the default list
        ("audit.dlq", ["audit.*"], False),  # looks like a DLQ but is excluded by config
    ],
)
def test_is_dlq_default_patterns(name, exclude, expected):
    assert is_dlq(name, DEFAULT_DLQ_PATTERNS, exclude) is expected


@pytest.mark.parametrize(
    "name, patterns, expected",
    [
        ("orders.dlq", ["*.dlq", "dlq.*"], ["orders"]),  # only the pattern that explains the name
        ("dlq.x.dlq", ["*.dlq", "dlq.*"], ["dlq.x", "x.dlq"]),  # every explaining pattern, in order
        ("orders.dlq", ["*.d?q", "[o]*.dlq"], []),  # other wildcards: not invertible, passed over
        (".dlq", ["*.dlq"], []),  # an empty source is no source
    ],
)
def test_convention_sources(name, patterns, expected):
    assert list(convention_sources(name, patterns)) == expected
