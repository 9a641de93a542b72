"""Issue #23: a password inside a URL is never echoed on the config-error page (also when the URL is
malformed), and a PostgreSQL store URL carrying one as a query parameter is refused like user info."""
from __future__ import annotations

import pytest

from config import ConfigError, load_settings


@pytest.mark.parametrize("key, url", [
    ("EVENTDECK_RABBITMQ__CLUSTERS", '[{"name": "r", "amqp_url": "amqb://ops:hunter2@rabbit:5672/%2F"}]'),
    ("EVENTDECK_RABBITMQ__CLUSTERS", '[{"name": "r", "management_url": "htp://ops:hunter2@rabbit:15672"}]'),
    ("EVENTDECK_RABBITMQ__CLUSTERS", '[{"name": "r", "management_url": "ftp://rabbit/?token=hunter2"}]'),
    ("EVENTDECK_STORE__URL", "mysql://ops:hunter2@db/ed"),
])
def test_malformed_url_errors_name_the_key_without_the_password(key, url):
    with pytest.raises(ConfigError) as err:
        load_settings(environ={key: url})
    text = str(err.value) + " ".join(err.value.problems)
    assert "hunter2" not in text and ("***" in text or "must not hold the password" in text)
    assert ("amqp_url" in text or "management_url" in text or "store" in text)


@pytest.mark.parametrize("url", ["postgresql://eventdeck@db/ed?password=hunter2",
                                 "postgresql://eventdeck@db/ed?sslmode=require&PASSWORD=hunter2",
                                 "postgresql://eventdeck@db/ed?sslpassword=hunter2"])
def test_store_url_with_a_password_parameter_is_refused(url):
    with pytest.raises(ConfigError, match="url must not hold the password") as err:
        load_settings(environ={"EVENTDECK_STORE__URL": url})
    assert "hunter2" not in str(err.value)


def test_store_url_without_a_password_is_accepted():
    url = "postgresql://eventdeck@db/ed?sslmode=require"
    assert load_settings(environ={"EVENTDECK_STORE__URL": url}).store.url == url
