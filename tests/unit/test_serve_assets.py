"""serve.Assets: Streamlit's hashed front-end bundles answered from memory, byte for byte, with Streamlit's
type and cache headers; every other request passes through to the app behind it untouched."""
from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from serve import Assets


def _static(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "static" / "js").mkdir(parents=True)
    (root / "static" / "css").mkdir()
    (root / "static" / "js" / "Metric.abc123.js").write_bytes(b"export const m = 1;\n" * 500)
    (root / "static" / "css" / "index.def456.css").write_text("body{margin:0}")
    (root / "static" / "js" / "sub").mkdir()  # a folder is not a file to serve
    (root / "secret.txt").write_text("not a bundle")
    return root


def _client(tmp_path: Path) -> tuple[TestClient, list[str]]:
    passed: list[str] = []

    def behind(request):
        passed.append(f"{request.method} {request.url.path}")
        return PlainTextResponse("from the app", status_code=404)

    app = Starlette(routes=[Route("/{rest:path}", behind, methods=["GET", "HEAD", "POST"])],
                    middleware=[Middleware(Assets, static_dir=str(_static(tmp_path)))])
    return TestClient(app), passed


def test_a_bundle_is_served_byte_for_byte_with_streamlit_headers(tmp_path):
    client, passed = _client(tmp_path)
    for _ in range(2):  # the second answer comes from memory
        r = client.get("/static/js/Metric.abc123.js")
        assert r.status_code == 200
        assert r.content == (tmp_path / "static/static/js/Metric.abc123.js").read_bytes()
        assert r.headers["content-type"].startswith(("application/javascript", "text/javascript"))
        assert r.headers["content-length"] == str(len(r.content))
        assert r.headers["cache-control"] == "public, immutable, max-age=31536000"
    css = client.get("/static/css/index.def456.css")
    assert css.text == "body{margin:0}" and css.headers["content-type"] == "text/css; charset=utf-8"
    assert passed == []


def test_head_answers_headers_without_a_body(tmp_path):
    client, passed = _client(tmp_path)
    r = client.head("/static/js/Metric.abc123.js")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "10000"
    assert passed == []


@pytest.mark.parametrize("path", ["/static/js/missing.js", "/static/js/sub", "/static/../secret.txt",
                                  "/static/js/../../secret.txt", "/secret.txt", "/", "/kafka",
                                  "/static/js/Metric.abc123.js/", "/static/JS/Metric.abc123.js"])
def test_anything_but_a_listed_bundle_passes_through(tmp_path, path):
    client, passed = _client(tmp_path)
    r = client.get(path)
    assert r.text == "from the app"
    assert len(passed) == 1


def test_other_methods_pass_through(tmp_path):
    client, passed = _client(tmp_path)
    assert client.post("/static/js/Metric.abc123.js").text == "from the app"
    assert passed == ["POST /static/js/Metric.abc123.js"]


def test_the_real_static_folder_is_listed():
    """Against Streamlit's own bundles: the entry module index.html loads is among the files answered."""
    import re

    from streamlit import file_util

    assets = Assets(lambda *a: None)
    index = (Path(file_util.get_static_dir()) / "index.html").read_text()
    entry = re.search(r'src="\./(static/js/index\.[^"]+\.js)"', index)
    assert entry and f"/{entry.group(1)}" in assets.files
    assert all(p.is_file() for p in assets.files.values())
