"""dlq.schema_view: what browse shows of a decode result, and the decoded-field filter (table of cases)."""
from __future__ import annotations

import json

import pytest

from dlq.schema_view import FieldFilterError, cli_columns, field_matches, parse_path, short, summary

DEC = {"status": "decoded", "format": "avro", "schema": "schema id 1", "schema_id": 1, "id_kind": "id",
       "subject": "orders-value", "version": "3",
       "value": {"id": "p-1", "amount": 12.5, "qty": 4, "ok": True, "note": {"string": "first"},
                 "total": {"currency": "EUR", "cents": "1999"}, "tags": ["a", "b"], "none": None}}
FAILED = {"status": "failed", "reason": "unknown id", "detail": "unknown id: GET /schemas/ids/9: 404",
          "schema": "schema id 9"}

CASES = [
    ("id", "equals", "p-1", True), ("id", "equals", "p-", False), ("id", "contains", "p-", True),
    ("amount", "equals", "12.5", True), ("qty", "equals", "4", True), ("qty", "equals", "4.0", False),
    ("ok", "equals", "true", True), ("none", "equals", "null", True),
    ("note", "equals", "first", True),  # an Avro union branch is unwrapped
    ("total.currency", "equals", "EUR", True), ("total.cents", "contains", "99", True),
    ("tags.1", "equals", "b", True), ("tags.2", "equals", "b", False), ("tags", "contains", '"a"', True),
    ("missing", "equals", "", False), ("total.currency.x", "equals", "EUR", False),
]


@pytest.mark.parametrize("path,op,wanted,want", CASES)
def test_field_matches(path, op, wanted, want):
    assert field_matches(DEC, parse_path(path), op, wanted) is want


def test_undecoded_never_matches_and_bad_filters_are_named():
    assert not field_matches(FAILED, ("id",), "equals", "p-1")
    assert not field_matches(None, ("id",), "contains", "")
    with pytest.raises(FieldFilterError, match="field_op"):
        field_matches(DEC, ("id",), "regex", "x")
    for bad in ("", "a..b", ".".join("x" * 33)):
        with pytest.raises(FieldFilterError, match="field:"):
            parse_path(bad)


def test_summary_short_and_cli():
    s = summary(DEC)
    assert s["label"] == "orders-value v3 (schema id 1)" and json.loads(s["decoded"]) == DEC["value"]
    assert short(s) == "avro decoded" and short(summary(FAILED)) == "unknown id" and short(None) == ""
    big = summary({**DEC, "value": {"x": "y" * 100}}, max_chars=50)
    assert big["decoded_truncated"] and big["decoded"].endswith("(truncated)")
    row = cli_columns({"coord": "0:1", "schema": s})
    assert json.loads(row["decoded"]) == DEC["value"] and row["schema"].startswith("avro orders-value v3")
    assert cli_columns({"schema": summary(FAILED)})["decoded"] == "unknown id: GET /schemas/ids/9: 404"
    assert cli_columns({"schema": None})["decoded"] == ""
