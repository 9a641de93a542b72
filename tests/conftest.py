"""Shared fixtures: real brokers and a fresh store.

Integration tests never skip: if a broker cannot be brought up, the fixture errors with a message
naming the missing piece and the command that fixes it (see demo/brokers.py).
"""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from demo.brokers import (  # noqa: E402
    KAFKA_KINDS,
    RABBIT_PLUGINS,
    BrokerError,
    RabbitInfo,
    ensure_rabbitmq,
    start_kafka,
)

# Hypothesis for the whole suite: no per-example deadline. The suite shares a 2-core machine with brokers,
# Chromium and dashboards, so an example's wall time says nothing about the code (and a deadline miss makes
# Hypothesis re-run the example to confirm it: slower, and a flaky failure). Example counts stay as each test
# sets them; `HYPOTHESIS_PROFILE=default` restores Hypothesis' own settings.
import os  # noqa: E402

from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("suite", deadline=None)
_hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


def _rabbit_answers_with_plugins(info: RabbitInfo) -> bool:
    """ensure_rabbitmq's "already up" check over HTTP: every node the management API lists has the plugins the
    tests need enabled, and the per-queue prometheus endpoint answers. ensure_rabbitmq asks
    `rabbitmq-plugins list`, which boots an Erlang CLI: ~10 s of wall time (under 1 s of CPU) per xdist worker."""
    import requests

    try:
        r = requests.get(f"{info.mgmt_url}/api/nodes", params={"columns": "name,enabled_plugins"},
                         auth=(info.user, info.password), timeout=5)
        nodes = r.json() if r.status_code == 200 else []
        plugins_on = bool(nodes) and all(set(RABBIT_PLUGINS) <= set(n.get("enabled_plugins") or ()) for n in nodes)
        return plugins_on and requests.get(f"{info.prometheus_url}/metrics/detailed",
                                           params={"family": "queue_consumer_count"}, timeout=5).status_code == 200
    except (requests.RequestException, ValueError):
        return False


@pytest.fixture(scope="session")
def rabbitmq():
    """The machine's RabbitMQ node with the management API answering."""
    if _rabbit_answers_with_plugins(RabbitInfo()):
        return RabbitInfo()
    try:
        return ensure_rabbitmq()  # not up, or a plugin off: start it / enable them, or say what is missing
    except BrokerError as exc:
        pytest.fail(f"RabbitMQ is needed for this test and could not be started: {exc}\n"
                    "Start it with `python -m demo.brokers up` (or `rabbitmq-server -detached`).",
                    pytrace=False)


def _start(kind: str, data_dir: Path):
    try:
        return start_kafka(kind, data_dir=data_dir)
    except BrokerError as exc:
        pytest.fail(f"Kafka-protocol broker {kind} could not be started: {exc}\n"
                    "Install the test brokers with `make test` (or .venv/bin/pip install -r requirements-dev.txt).",
                    pytrace=False)


@pytest.fixture(scope="session", params=KAFKA_KINDS)
def kafka(request, tmp_path_factory):
    """A running Kafka-protocol broker; tests using it run once per kind (noida, tansu)."""
    broker = _start(request.param, tmp_path_factory.mktemp(f"kafka-{request.param}"))
    yield broker
    broker.stop()


@pytest.fixture
def kafka_factory(tmp_path):
    """Start private brokers (for kill/restart tests); all are stopped after the test."""
    started = []

    def make(kind: str):
        b = _start(kind, tmp_path / f"{kind}-{len(started)}")
        started.append(b)
        return b

    yield make
    for b in started:
        b.stop()


@pytest.fixture
def tmp_store(tmp_path) -> Path:
    """Path of a fresh, migrated SQLite store."""
    from store.db import open_migrated

    path = tmp_path / "eventdeck.db"
    open_migrated(path).close()
    return path


# --- layers as markers: `pytest -m integration`, `-m "not e2e"`, `-m "unit and not pg"` -------------------
LAYERS = ("unit", "integration", "ui", "e2e")  # the directory a test module sits in is its layer
PG_FIXTURES = {"pg_database", "pg_store"}


def uses_postgresql(item) -> bool:
    """Whether a collected test reaches the machine's PostgreSQL: it asks for a PostgreSQL fixture, or one of its
    parameters is the ``postgresql`` store backend (``store_location``, ``any_store``, ``store`` and the
    modules' own backend fixtures take ``pg_database`` only for that parameter)."""
    if PG_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "postgresql" in [v for v in callspec.params.values() if isinstance(v, str)]


def pytest_collection_modifyitems(config, items):
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        try:
            layer = Path(item.fspath).resolve().relative_to(tests_dir).parts[0]
        except ValueError:
            continue
        if layer in LAYERS:
            item.add_marker(getattr(pytest.mark, layer))
        if uses_postgresql(item):
            item.add_marker(pytest.mark.pg)


# --- PostgreSQL store backend ----------------------------------------------------------------------
PG_SOCKET_DIR = "/var/run/postgresql"  # the machine's PostgreSQL, trust auth for user postgres
PG_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"  # what `make test` runs
STORE_BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_database():
    """A database of its own on the machine's PostgreSQL for this test session (dropped at the end);
    yields its URL (over the Unix socket: no network, so unit tests may use it)."""
    import uuid
    from urllib.parse import quote

    import psycopg

    admin = f"host={PG_SOCKET_DIR} user=postgres dbname=postgres"
    name = f"eventdeck_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed for the postgresql store tests and is not reachable at {PG_SOCKET_DIR}: "
                    f"{exc}\nStart it with `{PG_START}` (`make test` does), or install it with "
                    "`apt-get install -y postgresql`.", pytrace=False)
    yield f"postgresql://postgres@/{name}?host={quote(PG_SOCKET_DIR, safe='')}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_schema(url: str):
    """A fresh schema in the session's database; returns (its store URL, drop function)."""
    import uuid
    from urllib.parse import quote

    import psycopg

    schema = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    # synchronous_commit off: tests need no durability across a crash of the machine, and each commit
    # would otherwise wait for an fsync (a test writing 1,440 small batches: 5.5 s -> ~1.5 s)
    return f"{url}&options={quote(f'-csearch_path={schema} -csynchronous_commit=off', safe='')}", drop


def store_settings(location) -> dict:
    """The ``store`` settings section of a store location: ``{"url": …}`` for PostgreSQL, ``{"path": …}`` else."""
    where = str(location)
    return {"url": where} if where.startswith(("postgresql://", "postgres://")) else {"path": where}


def pg_url(name: str) -> str:
    """The store URL of database ``name`` on the machine's PostgreSQL (over its socket, no fsync wait per commit)."""
    from urllib.parse import quote

    return (f"postgresql://postgres@/{name}?host={quote(PG_SOCKET_DIR, safe='')}"
            f"&options={quote('-csynchronous_commit=off', safe='')}")


@contextlib.contextmanager
def pg_template_copies(seed):
    """A database written once by ``seed(url)``, and a function making a private copy of it (``CREATE DATABASE
    … TEMPLATE``, far faster than seeding again) that returns the copy's store URL; all dropped at the end."""
    import uuid

    import psycopg

    admin = f"host={PG_SOCKET_DIR} user=postgres dbname=postgres"
    template = f"eventdeck_seed_{uuid.uuid4().hex[:10]}"
    made = [template]
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{template}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is needed for the postgresql store tests and is not reachable at {PG_SOCKET_DIR}: "
                    f"{exc}\nStart it with `{PG_START}` (`make test` does), or install it with "
                    "`apt-get install -y postgresql`.", pytrace=False)

    def copy() -> str:
        name = f"eventdeck_copy_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        made.append(name)
        return pg_url(name)

    try:
        seed(pg_url(template))  # every connection of the seeding is closed: a template must have none
        yield copy
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_store(pg_database):
    """An empty, un-migrated PostgreSQL store location (a schema of its own in the session's database)."""
    url, drop = _pg_schema(pg_database)
    yield url
    drop()


@pytest.fixture(params=STORE_BACKENDS)
def store_location(request, tmp_path):
    """An empty, un-migrated store location of each backend: a SQLite path, or a ``postgresql://`` URL of a
    schema of its own in the session's test database."""
    if request.param == "sqlite":
        yield tmp_path / "s.db"
        return
    url, drop = _pg_schema(request.getfixturevalue("pg_database"))
    yield url
    drop()


@pytest.fixture
def store(store_location):
    """A writer and a reader on a fresh, migrated store of each backend (SQLite, PostgreSQL)."""
    from store.db import connect_reader, open_migrated

    w = open_migrated(store_location)
    r = connect_reader(store_location)
    yield w, r
    w.close()
    r.close()


@pytest.fixture
def any_store(store_location):
    """A fresh, migrated store of each backend (its location, as ``tmp_store`` is a SQLite path)."""
    from store.db import open_migrated

    open_migrated(store_location).close()
    return store_location


# ---------------------------------------------------------------- TLS brokers (tests/tls_brokers.py)

@pytest.fixture(scope="session")
def tls_dir():
    """A private directory for the TLS brokers' certificates and data, outside pytest's numbered temp
    directories: the brokers read their certificate files at every new connection, and the machine's
    other pytest sessions prune old numbered directories."""
    import shutil
    import tempfile
    d = Path(tempfile.mkdtemp(prefix="eventdeck-tls-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_pki(tls_dir):
    """A test CA, server certificate (localhost), client certificate (CN=eventdeck), an untrusted CA."""
    from tests.tls_brokers import make_pki
    return make_pki(tls_dir / "pki")


def _tls_start(broker, attempts: int = 2):
    """Start it; a second attempt on fresh ports and a fresh node name when the first start fails
    (a free port taken in between by a neighbour's test)."""
    from tests.tls_brokers import TlsBrokerError
    for attempt in range(attempts):
        try:
            return broker.start()
        except TlsBrokerError as exc:
            if attempt + 1 == attempts:
                pytest.fail(f"TLS test broker could not be started: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def tls_rabbit(tls_pki, tls_dir):
    """A private RabbitMQ node: amqps + https management, PLAIN and EXTERNAL, its own name and ports."""
    from tests.tls_brokers import TlsRabbit
    node = _tls_start(TlsRabbit(tls_pki, tls_dir / "rabbit"))
    yield node
    node.stop()


@pytest.fixture(scope="session", params=["tls", "mtls"])
def tls_kafka(request, tls_pki, tls_dir):
    """Tansu behind a socat TLS terminator; "mtls": the terminator requires a client certificate."""
    from tests.tls_brokers import TlsKafka
    broker = _tls_start(TlsKafka(tls_pki, tls_dir / f"kafka-{request.param}",
                                 mtls=request.param == "mtls"))
    yield broker
    broker.stop()
