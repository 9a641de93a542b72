"""The dashboard server: ``streamlit run serve.py`` (or ``uvicorn serve:app``) serves ``app.py`` through
Streamlit's ``st.App`` with two additions:

* a Host-header guard: a request whose Host is not the configured address, a loopback name or one of
  ``dashboard.allowed_hosts`` is refused (421), so a DNS-rebinding page in a local browser cannot drive
  a loopback-only dashboard (websocket included);
* ``/eventdeck/session``: trades the one-time code of a password sign-in for the signed, expiring,
  HttpOnly session cookie (the Streamlit script cannot set cookies itself); see views/sessions.py;
* Streamlit's content-hashed front-end bundles (``/static/js|css|media/...``) answered from memory in one
  send (:class:`Assets`): a first page load asks for about 150 of them while the page script runs in the same
  process, and Starlette's file responses (a worker-thread read per 64 KB, each waiting for the GIL the script
  thread holds) made small chunks wait 0.6-1.6 s behind the script and the 4.7 MB plotly bundle.
"""
from __future__ import annotations

import mimetypes
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import streamlit as st
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from config import ConfigError, load_settings
from config.dashboard import LOOPBACK
from core.clock import now_ms
from store.handle import unreachable_errors
from views import sessions


def host_allowed(host_header: str | None, address: str, extra: list[str]) -> bool:
    """Is the Host header (with or without port) the configured address, a loopback name or allowed?"""
    if not host_header:
        return False
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1:host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":")[0]
    allowed = {address.lower(), *LOOPBACK, *(h.lower() for h in extra)}
    return host in allowed and host not in ("0.0.0.0", "::")


def origin_allowed(origin: str | None, host_header: str | None, public_url: str | None) -> bool:
    """May a websocket with this ``Origin`` open? No Origin (not a browser) may; a browser page may only from
    the dashboard's own origin: the same host:port as the Host header, or ``dashboard.public_url``'s."""
    if origin is None:
        return True
    try:
        o = urlsplit(origin.strip().lower())
        if o.scheme not in ("http", "https") or not o.netloc:
            return False  # "null" (sandboxed frames, file pages) and anything odd
        if host_header and o.netloc == host_header.strip().lower():
            return True
        p = urlsplit((public_url or "").lower())
        return bool(p.netloc) and (o.scheme, o.netloc) == (p.scheme, p.netloc)
    except ValueError:
        return False


def _allowed_config() -> tuple[str, list[str]]:
    """(dashboard.address, dashboard.allowed_hosts), re-read at most every few seconds."""
    now = time.monotonic()
    if _CACHE["at"] is None or now - _CACHE["at"] > 5.0:
        try:
            cfg = load_settings().dashboard
            # the host of the public URL alert links point at (dashboard.public_url, where configured)
            public = urlsplit(getattr(cfg, "public_url", None) or "").hostname
            _CACHE["value"] = (cfg.address, [*cfg.allowed_hosts, *([public] if public else [])])
            _CACHE["public_url"] = getattr(cfg, "public_url", None)
        except ConfigError:  # the page itself shows the configuration error; only loopback may see it
            _CACHE["value"] = ("127.0.0.1", [])
            _CACHE["public_url"] = None
        _CACHE["at"] = now
    return _CACHE["value"]


_CACHE: dict[str, Any] = {"at": None, "value": ("127.0.0.1", []), "public_url": None}


def _header(scope: dict, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == name), None)


class HostGuard:
    """Pure ASGI middleware (HTTP and websocket) refusing foreign Host headers and websockets opened from a
    foreign Origin, and giving each browser its random :data:`sessions.BROWSER_COOKIE` (sign-in binding)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            host = _header(scope, b"host")
            if not host_allowed(host, *_allowed_config()):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await PlainTextResponse("Misdirected request: unknown Host header", status_code=421)(scope, receive, send)
                return
            if scope["type"] == "websocket" and not origin_allowed(_header(scope, b"origin"), host,
                                                                    _CACHE.get("public_url")):
                await send({"type": "websocket.close", "code": 1008})
                return
            if scope["type"] == "http" and f"{sessions.BROWSER_COOKIE}=" not in (_header(scope, b"cookie") or ""):
                send = _with_browser_cookie(send, _secure(scope.get("scheme") == "https"))
        await self.app(scope, receive, send)


def _secure(https_request: bool) -> bool:
    """Cookies are Secure when this request came over https, or when the dashboard is served at an https
    ``dashboard.public_url`` (TLS ends at a proxy in front)."""
    return https_request or (_CACHE.get("public_url") or "").lower().startswith("https://")


def _with_browser_cookie(send: Any, secure: bool) -> Any:
    import secrets

    value = secrets.token_urlsafe(24)
    cookie = (f"{sessions.BROWSER_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict"
              + ("; Secure" if secure else "")).encode("latin-1")

    async def wrapped(message: dict) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)
    return wrapped


def handoff(request: Request) -> Response:
    got = None
    code = request.query_params.get("code")
    settings = load_settings()
    store = settings.store.handle  # the configured store, SQLite or PostgreSQL
    # Without a code, or before the store exists (SQLite file, PostgreSQL schema), there is no session to hand
    # over: nothing is opened for writing (asking never creates a SQLite file); a store that does not answer: 503.
    if code:
        try:
            if store.exists():
                with store.writing() as conn:
                    got = sessions.exchange(conn, code, now_ms(), request.cookies.get(sessions.BROWSER_COOKIE))
        except unreachable_errors():
            return PlainTextResponse("The store is unreachable; try again in a moment.", status_code=503)
    response = RedirectResponse("/", status_code=303)
    if got is not None:
        value, max_age = got
        response.set_cookie(sessions.COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                            secure=request.url.scheme == "https"
                            or (settings.dashboard.public_url or "").lower().startswith("https://"))
    return response


class Assets:
    """Pure ASGI middleware answering GET/HEAD of Streamlit's hashed static bundles from memory.

    Only names listed from Streamlit's own ``static/{js,css,media}`` folders are answered (a dict lookup: no
    path from the request reaches the file system), each file read once on its first request and kept (the
    bundles a page uses are about 10 MB of the 26 MB). Headers are Streamlit's: the type, and the year-long
    ``immutable`` cache its static route gives hashed assets. Anything else passes through unchanged."""

    PREFIX = "/static/"
    FOLDERS = ("js", "css", "media")
    CACHE = "public, immutable, max-age=31536000"

    def __init__(self, app: Any, static_dir: str | None = None) -> None:
        self.app = app
        root = Path(static_dir or _streamlit_static_dir()) / "static"
        self.files: dict[str, Path] = {}
        for folder in self.FOLDERS:
            if (root / folder).is_dir():
                with os.scandir(root / folder) as entries:
                    self.files.update({f"{self.PREFIX}{folder}/{e.name}": Path(e.path) for e in entries if e.is_file()})
        self.loaded: dict[str, tuple[bytes, list[tuple[bytes, bytes]]]] = {}

    def _load(self, path: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        got = self.loaded.get(path)
        if got is None:
            body = self.files[path].read_bytes()
            kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
            if kind.startswith("text/"):  # as Starlette types them
                kind += "; charset=utf-8"
            got = body, [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode()),
                         (b"cache-control", self.CACHE.encode())]
            self.loaded[path] = got
        return got

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or scope["path"] not in self.files:
            await self.app(scope, receive, send)
            return
        body, headers = self._load(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def _streamlit_static_dir() -> str:
    from streamlit import file_util

    return file_util.get_static_dir()


app = st.App(Path(__file__).resolve().with_name("app.py"), routes=[Route(sessions.HANDOFF_PATH, handoff)], middleware=[Middleware(HostGuard), Middleware(Assets)])
