"""Private TLS brokers for the tests, with certificates made at test time (``trustme``):

* ``TlsRabbit``: a second RabbitMQ node beside the machine's (own node name, config, data dir, free
  ports): amqps only (``listeners.tcp = none``), https management, PLAIN and EXTERNAL
  (``rabbitmq_auth_mechanism_ssl``, user = the client certificate's CN).
* ``TlsKafka``: Tansu on a plaintext loopback port, advertised as ``localhost:<tls port>``, behind a
  ``socat OPENSSL-LISTEN`` TLS terminator on that port; ``mtls=True`` makes socat require a client
  certificate signed by the test CA (``verify=1``).

The server certificates name ``localhost`` only (no IP address), so connecting to ``127.0.0.1`` is a
real host-name mismatch. A second CA that signed nothing the brokers use stands for "untrusted".
Nothing here skips: a missing tool fails with the command that installs it.
"""
from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import trustme

from demo.brokers import _tansu_bin, free_port

HOST = "localhost"


class TlsBrokerError(RuntimeError):
    pass


@dataclass
class Pki:
    dir: Path
    ca: Path            # the CA the brokers' certificates chain to
    other_ca: Path      # a CA that signed nothing here: "untrusted"
    server: Path        # server cert + key (PEM, one file)
    server_cert: Path
    server_key: Path
    client_cert: Path   # CN=eventdeck, signed by ca
    client_key: Path
    client_key_enc: Path    # the same key, encrypted with KEY_PASSWORD
    KEY_PASSWORD: str = "k3y-pa55"


def make_pki(d: Path) -> Pki:
    """A test CA, a server certificate for ``localhost``, a client certificate CN=eventdeck, an other CA."""
    d.mkdir(parents=True, exist_ok=True)
    ca, other = trustme.CA(), trustme.CA()
    server = ca.issue_cert(HOST)
    client = ca.issue_cert("eventdeck", common_name="eventdeck")
    p = Pki(dir=d, ca=d / "ca.pem", other_ca=d / "other-ca.pem", server=d / "server.pem",
            server_cert=d / "server-cert.pem", server_key=d / "server-key.pem",
            client_cert=d / "client-cert.pem", client_key=d / "client-key.pem", client_key_enc=d / "client-key-enc.pem")
    ca.cert_pem.write_to_path(str(p.ca))
    other.cert_pem.write_to_path(str(p.other_ca))
    server.private_key_and_cert_chain_pem.write_to_path(str(p.server))
    server.cert_chain_pems[0].write_to_path(str(p.server_cert))
    server.private_key_pem.write_to_path(str(p.server_key))
    client.cert_chain_pems[0].write_to_path(str(p.client_cert))
    client.private_key_pem.write_to_path(str(p.client_key))
    from cryptography.hazmat.primitives import serialization
    key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
    p.client_key_enc.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.BestAvailableEncryption(p.KEY_PASSWORD.encode())))
    return p


def _need(tool: str, package: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None)
    if not path:
        raise TlsBrokerError(f"{tool} is not installed: run `make system-deps` (apt-get install -y {package})")
    return path


def _tls_ready(port: int, ca: Path, timeout: float = 2.0) -> bool:
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            with ctx.wrap_socket(s, server_hostname=HOST):
                return True
    except OSError:
        return False


# ------------------------------------------------------------------ RabbitMQ

@dataclass
class TlsRabbit:
    pki: Pki
    dir: Path
    node: str = ""
    amqps_port: int = 0
    https_port: int = 0
    prom_port: int = 0  # rabbitmq_prometheus over TLS
    dist_port: int = 0
    proc: subprocess.Popen | None = None
    users: dict[str, str] = field(default_factory=dict)

    @property
    def amqp_url(self) -> str:
        return f"amqps://{HOST}:{self.amqps_port}/%2F"

    @property
    def mgmt_url(self) -> str:
        return f"https://{HOST}:{self.https_port}"

    @property
    def prometheus_url(self) -> str:
        return f"https://{HOST}:{self.prom_port}"

    def ctl(self, *args: str, timeout: float = 60) -> str:
        r = subprocess.run([_need("rabbitmqctl", "rabbitmq-server"), "-q", "-n", self.node, *args],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise TlsBrokerError(f"rabbitmqctl {' '.join(args[:2])} failed: {r.stderr.strip()[-400:]}")
        return r.stdout

    def start(self, timeout: float = 90.0) -> "TlsRabbit":
        server = _need("rabbitmq-server", "rabbitmq-server")
        self.node = f"edtls{os.getpid()}x{uuid.uuid4().hex[:6]}@localhost"
        self.amqps_port, self.https_port, self.dist_port = free_port(), free_port(), free_port()
        self.prom_port = free_port()
        for sub in ("mnesia", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "rabbitmq.conf").write_text("\n".join([
            "listeners.tcp = none",
            f"listeners.ssl.1 = 127.0.0.1:{self.amqps_port}",
            f"ssl_options.cacertfile = {self.pki.ca}",
            f"ssl_options.certfile = {self.pki.server_cert}",
            f"ssl_options.keyfile = {self.pki.server_key}",
            "ssl_options.verify = verify_peer",
            "ssl_options.fail_if_no_peer_cert = false",
            "ssl_cert_login_from = common_name",
            "auth_mechanisms.1 = PLAIN",
            "auth_mechanisms.2 = EXTERNAL",
            f"management.ssl.port = {self.https_port}",
            "management.ssl.ip = 127.0.0.1",
            f"management.ssl.cacertfile = {self.pki.ca}",
            f"management.ssl.certfile = {self.pki.server_cert}",
            f"management.ssl.keyfile = {self.pki.server_key}",
            f"prometheus.ssl.port = {self.prom_port}",
            "prometheus.ssl.ip = 127.0.0.1",
            f"prometheus.ssl.cacertfile = {self.pki.ca}",
            f"prometheus.ssl.certfile = {self.pki.server_cert}",
            f"prometheus.ssl.keyfile = {self.pki.server_key}",
            "loopback_users = none",
            "collect_statistics_interval = 1000",
            "management.sample_retention_policies.global.minute = 5",
            "management.sample_retention_policies.basic.minute = 5",
            "management.sample_retention_policies.detailed.10 = 5",
            "",
        ]))
        (self.dir / "enabled_plugins").write_text("[rabbitmq_management,rabbitmq_auth_mechanism_ssl,rabbitmq_prometheus].\n")
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.dir), str(self.pki.dir)], check=False)
        for p in (self.dir, self.pki.dir, *self.dir.parents):
            if str(p) in ("/", ""):
                break
            try:  # the rabbitmq user must be able to walk down to its directory and the certificates
                os.chmod(p, os.stat(p).st_mode | 0o011)
            except OSError:
                pass
        env = {**os.environ, "RABBITMQ_NODENAME": self.node, "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq"),
               "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"), "RABBITMQ_LOG_BASE": str(self.dir / "log"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
               "RABBITMQ_DIST_PORT": str(self.dist_port)}
        log = open(self.dir / "server.out", "ab")
        self.proc = subprocess.Popen([server], env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TlsBrokerError(f"TLS RabbitMQ node {self.node} exited at start: "
                                     f"{(self.dir / 'server.out').read_text(errors='replace')[-800:]}")
            if all(_tls_ready(p, self.pki.ca) for p in (self.amqps_port, self.https_port, self.prom_port)):
                break
            time.sleep(0.5)
        else:
            self.stop()
            raise TlsBrokerError(f"TLS RabbitMQ node {self.node} did not open its TLS ports in {timeout:.0f} s; "
                                 f"see {self.dir / 'log'}")
        self.ctl("await_startup", timeout=timeout)
        self.add_user("edtls", "edtls-pw-1", tags="monitoring")
        self.add_user("eventdeck", None)  # EXTERNAL: the client certificate's CN
        import requests
        last = ""
        while True:  # the management API answers 500 until its stats database is up
            try:
                r = requests.get(f"{self.mgmt_url}/api/nodes", auth=("edtls", self.users["edtls"]),
                                 verify=str(self.pki.ca), timeout=5)
                if r.status_code == 200 and r.json():
                    return self
                last = f"HTTP {r.status_code} {r.text[:300]}"
            except (requests.RequestException, ValueError) as exc:
                last = repr(exc)[:300]
            if time.monotonic() > deadline:
                self.stop()
                raise TlsBrokerError(f"management API of {self.node} not ready within {timeout:.0f} s: {last}")
            time.sleep(0.5)

    def add_user(self, name: str, password: str | None, tags: str = "") -> None:
        self.ctl("add_user", name, password or uuid.uuid4().hex)
        if password is None:
            self.ctl("clear_password", name)
        if tags:
            self.ctl("set_user_tags", name, tags)
        self.ctl("set_permissions", "-p", "/", name, ".*", ".*", ".*")
        if password:
            self.users[name] = password

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.ctl("stop", timeout=60)
        except (TlsBrokerError, subprocess.TimeoutExpired):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)


# ------------------------------------------------------------------ Kafka (Tansu behind socat)

@dataclass
class TlsKafka:
    pki: Pki
    dir: Path
    mtls: bool = False
    plain_port: int = 0
    tls_port: int = 0
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.tls_port}"

    def _spawn(self, cmd: list[str], name: str) -> subprocess.Popen:
        log = open(self.dir / f"{name}.out", "ab")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def start(self, timeout: float = 60.0) -> "TlsKafka":
        socat = _need("socat", "socat")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.plain_port, self.tls_port = free_port(), free_port()
        verify = f"verify=1,cafile={self.pki.ca}" if self.mtls else "verify=0"
        self._spawn([socat, f"OPENSSL-LISTEN:{self.tls_port},bind=127.0.0.1,reuseaddr,fork,"
                            f"cert={self.pki.server},{verify}", f"TCP:127.0.0.1:{self.plain_port}"], "socat")
        self._spawn([_tansu_bin(), "broker", "--listener-url", f"tcp://127.0.0.1:{self.plain_port}",
                     "--advertised-listener-url", f"tcp://{HOST}:{self.tls_port}"], "tansu")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    self.stop()
                    raise TlsBrokerError(f"{p.args[0]} exited at start; see {self.dir}")
            if self._ready():
                return self
            time.sleep(0.3)
        self.stop()
        raise TlsBrokerError(f"Tansu behind socat did not answer on {self.bootstrap} within {timeout:.0f} s")

    def client_conf(self) -> dict:
        """kafka-python settings reaching this broker (for test setup and checks only)."""
        ctx = ssl.create_default_context(cafile=str(self.pki.ca))
        if self.mtls:
            ctx.load_cert_chain(str(self.pki.client_cert), str(self.pki.client_key))
        return {"bootstrap_servers": self.bootstrap, "security_protocol": "SSL", "ssl_context": ctx}

    def _ready(self) -> bool:
        from kafka import KafkaAdminClient
        try:
            admin = KafkaAdminClient(**self.client_conf(), request_timeout_ms=3000, bootstrap_timeout_ms=3000,
                                     client_id="eventdeck-probe")
        except Exception:
            return False
        try:
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            admin.close()

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
        self.procs.clear()
