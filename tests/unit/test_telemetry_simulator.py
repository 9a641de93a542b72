"""Pure parts of the shop simulator: its options and the slowdown wave that makes lag build."""
from __future__ import annotations

import pytest

from demo.simulator import SimOptions, rabbit_names, slow_factor


@pytest.mark.parametrize("service, t_s, every_s, expected", [
    ("notification", 0.0, 60.0, 10.0),     # start of a period: the slow phase
    ("notification", 19.9, 60.0, 10.0),    # still within the first third
    ("notification", 20.0, 60.0, 1.0),     # the rest of the period runs normally (lag drains)
    ("notification", 125.0, 60.0, 10.0),   # periodic: 125 s is 5 s into the third period
    ("payment", 0.0, 60.0, 1.0),           # only the notification service slows down
    ("notification", 0.0, 0.0, 1.0),       # 0 switches the wave off
])
def test_slow_factor(service, t_s, every_s, expected):
    assert slow_factor(service, t_s, every_s) == expected


@pytest.mark.parametrize("kwargs, message", [
    ({"rate": 0}, "rate"),                  # no orders at all is not a simulation
    ({"failure": 1.5}, "probability"),      # failure is a probability
    ({"latency_ms": -1}, "latency_ms"),     # negative sleeps
    ({"slow_every_s": -5}, "slow_every_s"),  # negative period
])
def test_bad_options_name_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SimOptions(**kwargs)


def test_rabbit_names_follow_the_prefix():
    n = rabbit_names(SimOptions(prefix="shop"))
    assert (n["exchange"], n["dlx"], n["payment"], n["payment.dlq"]) == (
        "shop.orders", "shop.dlx", "shop.payment", "shop.payment.dlq")
