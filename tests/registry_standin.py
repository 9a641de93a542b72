"""The schema-registry STAND-IN used by the tests (no registry server can be installed on these machines).

A small threaded HTTP server on 127.0.0.1 that implements the Confluent Schema Registry endpoints
confluent-kafka's serializers and Eventdeck's client call, and stores what the serializers register:

* ``POST /subjects/{subject}/versions`` — register (same schema text + type + references → same id)
* ``POST /subjects/{subject}`` — look a schema up in a subject
* ``GET /schemas/ids/{id}``, ``GET /schemas/guids/{guid}``, ``GET /schemas/ids/{id}/versions``
* ``GET /subjects/{subject}/versions/{version|latest}``, ``GET /subjects``
* Apicurio content by global / content id (below)

Protobuf: confluent-kafka's Python serializer registers the base64 serialized ``FileDescriptorProto``;
a real registry converts it to ``.proto`` text and hands the serialized form back for
``?format=serialized``. The stand-in keeps what was registered and returns it for every format, which is
what ``?format=serialized`` returns from a real one. ``delay_s`` slows every answer (hostile tests);
``fail`` makes every answer a 503; ``authorization`` demands that Authorization header (else 401);
``ssl_context`` serves https; ``put(id, doc)`` plants a schema answer (oversized, recursive ...).
Apicurio: ``GET /apis/registry/{v2,v3}/ids/{globalIds,contentIds}/{id}`` (the raw content; v2 names its
type in ``X-Registry-ArtifactType``, v3 does not) and ``…/references`` (none) over the same stored schemas.
"""
from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlparse


class RegistryStandIn:
    def __init__(self, ssl_context: Any = None, authorization: str | None = None) -> None:
        self.schemas: dict[int, dict[str, Any]] = {}  # id -> {schema, schemaType, references, guid}
        self.subjects: dict[str, list[int]] = {}
        self.delay_s = 0.0
        self.fail = False
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self._next = 1
        self.authorization = authorization  # the Authorization header every request must carry (else 401)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.scheme = "http"
        if ssl_context is not None:  # https: the tests' own CA (trustme)
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "RegistryStandIn":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def put(self, schema_id: int, doc: dict[str, Any], subject: str | None = None) -> None:
        with self.lock:
            self.schemas[schema_id] = {"references": [], "schemaType": "AVRO", "guid": str(uuid.uuid4()), **doc}
            if subject:
                self.subjects.setdefault(subject, []).append(schema_id)

    def _register(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        stype = body.get("schemaType") or "AVRO"
        refs = body.get("references") or []
        with self.lock:
            for sid, s in self.schemas.items():
                if s["schema"] == body["schema"] and s["schemaType"] == stype and s["references"] == refs:
                    break
            else:
                sid = self._next
                self._next += 1
                self.schemas[sid] = {"schema": body["schema"], "schemaType": stype, "references": refs,
                                     "guid": str(uuid.uuid4())}
            versions = self.subjects.setdefault(subject, [])
            if sid not in versions:
                versions.append(sid)
            return {"id": sid, "guid": self.schemas[sid]["guid"], "version": versions.index(sid) + 1,
                    "subject": subject, **self._doc(sid)}

    def _doc(self, sid: int) -> dict[str, Any]:
        s = self.schemas[sid]
        doc = {"schema": s["schema"], "references": s["references"], "guid": s["guid"]}
        if s["schemaType"] != "AVRO":
            doc["schemaType"] = s["schemaType"]
        return doc

    def _versions_of(self, sid: int) -> list[dict[str, Any]]:
        return [{"subject": sub, "version": ids.index(sid) + 1} for sub, ids in self.subjects.items() if sid in ids]

    def _handler(self):  # noqa: C901 - one small router
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, code: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _route(self, method: str) -> None:
                path = urlparse(self.path).path
                outer.requests.append(f"{method} {self.path}")
                if outer.delay_s:
                    time.sleep(outer.delay_s)
                if outer.authorization is not None and self.headers.get("Authorization") != outer.authorization:
                    return self._send(401, {"error_code": 40101, "message": "Unauthorized"})
                if outer.fail:
                    return self._send(503, {"error_code": 50301, "message": "stand-in told to fail"})
                body: Any = None
                if method == "POST":
                    n = int(self.headers.get("Content-Length") or 0)
                    body = json.loads(self.rfile.read(n) or b"{}")
                m = re.fullmatch(r"/subjects/([^/]+)/versions", path)
                if m and method == "POST":
                    return self._send(200, outer._register(unquote(m[1]), body))
                m = re.fullmatch(r"/subjects/([^/]+)", path)
                if m and method == "POST":
                    subject = unquote(m[1])
                    for sid in outer.subjects.get(subject, []):
                        s = outer.schemas[sid]
                        if s["schema"] == body.get("schema"):
                            return self._send(200, {"id": sid, "subject": subject, "guid": s["guid"],
                                                    "version": outer.subjects[subject].index(sid) + 1,
                                                    **outer._doc(sid)})
                    return self._send(404, {"error_code": 40403, "message": "Schema not found"})
                m = re.fullmatch(r"/schemas/ids/(\d+)(/versions)?", path)
                if m and int(m[1]) in outer.schemas:
                    sid = int(m[1])
                    return self._send(200, outer._versions_of(sid) if m[2] else outer._doc(sid))
                m = re.fullmatch(r"/schemas/guids/([0-9a-f-]+)", path)
                if m:
                    for sid, s in outer.schemas.items():
                        if s["guid"] == m[1]:
                            return self._send(200, outer._doc(sid))
                m = re.fullmatch(r"/subjects/([^/]+)/versions/(\w+)", path)
                if m and unquote(m[1]) in outer.subjects:
                    ids = outer.subjects[unquote(m[1])]
                    v = len(ids) if m[2] == "latest" else int(m[2]) if m[2].isdigit() else 0
                    if 1 <= v <= len(ids):
                        sid = ids[v - 1]
                        return self._send(200, {"subject": unquote(m[1]), "version": v, "id": sid,
                                                **outer._doc(sid)})
                m = re.fullmatch(r"/apis/registry/(v2|v3)/ids/(globalIds|contentIds)/(\d+)(/references)?", path)
                if m and int(m[3]) in outer.schemas:  # Apicurio: the raw content by id (v2 names its type)
                    sid = int(m[3])
                    if m[4]:
                        return self._send(200, [])
                    body = outer.schemas[sid]["schema"].encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    if m[1] == "v2":
                        self.send_header("X-Registry-ArtifactType", outer.schemas[sid]["schemaType"])
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return None
                if path == "/subjects":
                    return self._send(200, list(outer.subjects))
                return self._send(404, {"error_code": 40403, "message": f"not found: {path}"})

            def do_GET(self) -> None:  # noqa: N802
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

        return Handler
