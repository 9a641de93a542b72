"""Payload rendering: pretty JSON, text, hex for binary, truncation with the full size (pure)."""
from __future__ import annotations

import pytest

from dlq.payload import render, size_label


@pytest.mark.parametrize("payload, limit, kind, truncated, contains", [
    (None, 100, "empty", False, ""),  # tombstone / empty body
    (b'{"a":1,"b":[1,2]}', 100, "json", False, '"a": 1'),  # JSON object is pretty-printed
    (b"plain text\nline 2", 100, "text", False, "line 2"),
    (b'"just a string"', 100, "text", False, "just a string"),  # a JSON scalar stays text
    (b"\x00\x01\x02binary\xff", 100, "hex", False, "00 01 02"),  # binary becomes a hex dump
    (b'{"big": "' + b"x" * 200 + b'"}', 50, "text", True, '{"big"'),  # truncated JSON is not parsed
    ("héllo wörld".encode() * 10, 10, "text", True, "héllo"),  # a cut inside a UTF-8 char is still text
    (b"<script>alert(1)</script>", 100, "text", False, "<script>"),  # escaping is the view's job
])
def test_render(payload, limit, kind, truncated, contains):
    r = render(payload, limit)
    assert (r.kind, r.truncated) == (kind, truncated)
    assert contains in r.text
    assert r.size == len(payload or b"")


def test_truncation_keeps_size_and_limits_text():
    r = render(b"a" * 10_000, 100)
    assert r.size == 10_000 and len(r.text) == 100


@pytest.mark.parametrize("size, label", [(0, "0 B"), (1023, "1023 B"), (4096, "4.0 KiB"),
                                         (3 * 1024 * 1024 // 2, "1.5 MiB")])
def test_size_label(size, label):
    assert size_label(size) == label


def test_bad_limit():
    with pytest.raises(ValueError, match="limit"):
        render(b"x", 0)


@pytest.mark.parametrize("payload", [b"[" * 4000 + b"]" * 4000, b'{"a":' * 3000 + b"1" + b"}" * 3000,
                                     b"[" * 101 + b"]" * 101])
def test_deeply_nested_json_renders_as_text_not_recursion_error(payload):
    r = render(payload, 1 << 20)
    assert r.kind == "text" and r.size == len(payload)


def test_json_of_moderate_depth_is_still_pretty():
    assert render(b"[" * 50 + b"]" * 50, 1 << 20).kind == "json"
