"""HTTP client of a cluster's schema registry (Confluent Schema Registry API, Apicurio Registry v2/v3).

The only place that opens a connection to a registry: auth (basic, bearer; secrets from the environment
or the secrets file), the CA file (passed per request as ``verify=``, so ``REQUESTS_CA_BUNDLE`` cannot
override it), timeouts. Answers are returned raw (:class:`RawSchema`); parsing, caching and bounds are
``dlq.schemas``' job. Errors: :class:`SchemaNotFound` (the registry says the id is unknown),
:class:`RegistryUnreachable` (connection, TLS, timeout, 5xx), :class:`RegistryError` (anything else:
auth refused, malformed answer), each naming the URL path, never a secret.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from config import ConfigError, secret
from config.schema_registry import SchemaRegistryConfig


class RegistryError(RuntimeError):
    """The registry answered, but not with a usable schema (auth refused, malformed answer ...)."""


class RegistryUnreachable(RegistryError):
    """No answer: connection refused, DNS, TLS, timeout, or a 5xx."""


class SchemaNotFound(RegistryError):
    """The registry does not know this id."""


@dataclass(frozen=True)
class Ref:
    name: str  # the name the referring schema uses (Avro full name, .proto import path, JSON $ref)
    subject: str  # Confluent subject, or Apicurio "group/artifact"
    version: str


@dataclass(frozen=True)
class RawSchema:
    schema_type: str  # 'AVRO' | 'PROTOBUF' | 'JSON'
    text: str  # Avro/JSON Schema text; Protobuf: base64 of a serialized FileDescriptorProto, or .proto text
    references: tuple[Ref, ...] = ()
    subject: str | None = None
    version: str | None = None
    serialized: bool = False  # Protobuf text is the serialized descriptor (base64)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def _auth_headers(cfg: SchemaRegistryConfig, where: str) -> dict[str, str]:
    if cfg.auth == "basic":
        if not cfg.username or not cfg.password_env:
            raise ConfigError(f"{where}.auth basic needs username and password_env")
        pw = secret(cfg.password_env)
        if pw is None:
            raise ConfigError(f"{where}.password_env: secret {cfg.password_env} is not set (environment or "
                              f"secrets file)")
        token = base64.b64encode(f"{cfg.username}:{pw}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    if cfg.auth == "bearer":
        if not cfg.token_env:
            raise ConfigError(f"{where}.auth bearer needs token_env")
        tok = secret(cfg.token_env)
        if tok is None:
            raise ConfigError(f"{where}.token_env: secret {cfg.token_env} is not set (environment or secrets file)")
        return {"Authorization": f"Bearer {tok}"}
    return {}


def _infer_type(text: str) -> str:
    """Apicurio v3 may not say the artifact type of a content id: tell it from the content."""
    t = text.lstrip()
    if t.startswith(("{", "[", '"')):
        try:
            doc = json.loads(t)
        except ValueError:
            return "AVRO"
        if isinstance(doc, dict) and ("$schema" in doc or "properties" in doc or doc.get("type") == "object"
                                      and "fields" not in doc):
            return "JSON"
        return "AVRO"
    return "PROTOBUF"


class RegistryClient:
    """One registry of one cluster. ``get_by_id(kind, id)``: kind 'id' | 'guid' (Confluent), 'global' |
    'content' (Apicurio); ``get_ref(ref)`` for a referenced schema."""

    MAX_RESPONSE = 64 << 20

    def __init__(self, cfg: SchemaRegistryConfig, cluster: str = "?") -> None:
        self.cfg = cfg
        self.where = f"kafka.clusters[{cluster}].schema_registry"
        self._headers = {"Accept": "application/vnd.schemaregistry.v1+json, application/json, */*",
                         **_auth_headers(cfg, self.where)}
        self._verify: str | bool = cfg.ca_file or True
        self._session = requests.Session()
        self._session.trust_env = False  # no proxy / netrc / CA bundle from the environment

    def close(self) -> None:
        self._session.close()

    def _get(self, path: str, params: dict[str, str] | None = None) -> requests.Response:
        url = self.cfg.url + path
        try:
            r = self._session.get(url, params=params, headers=self._headers, verify=self._verify,
                                  timeout=(self.cfg.connect_timeout_s, self.cfg.read_timeout_s), stream=True)
            body = r.raw.read(self.MAX_RESPONSE + 1, decode_content=True)
        except requests.exceptions.SSLError as exc:
            raise RegistryUnreachable(f"registry unreachable: TLS to {self.cfg.url} failed (check "
                                      f"{self.where}.ca_file): {type(exc).__name__}") from None
        except (requests.RequestException, OSError) as exc:
            raise RegistryUnreachable(f"registry unreachable: GET {path}: {type(exc).__name__}") from None
        if len(body) > self.MAX_RESPONSE:
            raise RegistryError(f"GET {path}: answer larger than {self.MAX_RESPONSE} bytes")
        r._content = body  # noqa: SLF001 - the bounded body, read once
        if r.status_code == 404:
            raise SchemaNotFound(f"GET {path}: 404 not found")
        if r.status_code in (401, 403):
            raise RegistryError(f"GET {path}: {r.status_code} (check {self.where}.auth)")
        if r.status_code >= 500:
            raise RegistryUnreachable(f"registry unreachable: GET {path}: {r.status_code}")
        if r.status_code != 200:
            raise RegistryError(f"GET {path}: HTTP {r.status_code}")
        return r

    def _json(self, path: str, params: dict[str, str] | None = None) -> Any:
        r = self._get(path, params)
        try:
            return json.loads(r.content)
        except ValueError:
            raise RegistryError(f"GET {path}: answer is not JSON") from None

    # --- Confluent -------------------------------------------------------------------------------
    def _confluent(self, doc: Any, path: str) -> RawSchema:
        if not isinstance(doc, dict) or not isinstance(doc.get("schema"), str):
            raise RegistryError(f"GET {path}: answer has no schema text")
        stype = doc.get("schemaType") or "AVRO"
        refs = []
        for r in doc.get("references") or []:
            if not isinstance(r, dict) or not all(isinstance(r.get(k), (str, int)) for k in ("name", "subject",
                                                                                                "version")):
                raise RegistryError(f"GET {path}: malformed reference {str(r)[:100]}")
            refs.append(Ref(str(r["name"]), str(r["subject"]), str(r["version"])))
        return RawSchema(str(stype).upper(), doc["schema"], tuple(refs),
                         str(doc["subject"]) if doc.get("subject") is not None else None,
                         str(doc["version"]) if doc.get("version") is not None else None,
                         serialized=stype == "PROTOBUF")

    def get_by_id(self, kind: str, schema_id: int | str) -> RawSchema:
        api = self.cfg.api
        if kind in ("id", "guid"):
            if api != "confluent":
                raise RegistryError(f"a Confluent schema {kind} needs {self.where}.api: confluent (is {api})")
            seg = "ids" if kind == "id" else "guids"
            path = f"/schemas/{seg}/{quote(str(schema_id), safe='')}"
            raw = self._confluent(self._json(path, {"format": "serialized"}), path)
            if raw.subject is None and kind == "id":
                try:
                    vs = self._json(f"{path}/versions")
                    if isinstance(vs, list) and vs and isinstance(vs[0], dict):
                        raw = RawSchema(raw.schema_type, raw.text, raw.references, str(vs[0].get("subject")),
                                        str(vs[0].get("version")), raw.serialized)
                except SchemaNotFound:
                    pass
            return raw
        if kind in ("global", "content"):
            if api == "confluent":
                raise RegistryError(f"an Apicurio {kind} id needs {self.where}.api: apicurio2 or apicurio3")
            ver = "v2" if api == "apicurio2" else "v3"
            seg = "globalIds" if kind == "global" else "contentIds"
            path = f"/apis/registry/{ver}/ids/{seg}/{int(schema_id)}"
            r = self._get(path)
            text = r.content.decode("utf-8", errors="replace")
            stype = (r.headers.get("X-Registry-ArtifactType") or _infer_type(text)).upper()
            refs = self._apicurio_refs(f"{path}/references")
            return RawSchema(stype, text, refs, r.headers.get("X-Registry-ArtifactId"),
                             r.headers.get("X-Registry-Version"))
        raise RegistryError(f"unknown id kind {kind!r}")

    def _apicurio_refs(self, path: str) -> tuple[Ref, ...]:
        try:
            doc = self._json(path)
        except SchemaNotFound:
            return ()
        out = []
        for r in doc if isinstance(doc, list) else []:
            if isinstance(r, dict) and r.get("artifactId") and r.get("name"):
                out.append(Ref(str(r["name"]), f"{r.get('groupId') or 'default'}/{r['artifactId']}",
                               str(r.get("version") or "latest")))
        return tuple(out)

    def get_ref(self, ref: Ref) -> RawSchema:
        """A referenced schema by subject and version (the version the reference pins)."""
        api = self.cfg.api
        if api == "confluent":
            path = f"/subjects/{quote(ref.subject, safe='')}/versions/{quote(ref.version, safe='')}"
            return self._confluent(self._json(path, {"format": "serialized"}), path)
        group, _, artifact = ref.subject.partition("/")
        ver = "v2" if api == "apicurio2" else "v3"
        tail = "" if api == "apicurio2" else "/content"
        path = (f"/apis/registry/{ver}/groups/{quote(group, safe='')}/artifacts/{quote(artifact, safe='')}"
                f"/versions/{quote(ref.version, safe='')}{tail}")
        r = self._get(path)
        text = r.content.decode("utf-8", errors="replace")
        return RawSchema((r.headers.get("X-Registry-ArtifactType") or _infer_type(text)).upper(), text,
                         subject=ref.subject, version=ref.version)
