"""The schema parts of the DLQ page (layout only): decoded-field filter, the table's schema column, the decoded
value beside the raw bytes, and the schema'd edit (decoded JSON, validated against the message's own schema
before Confirm). Kept apart from views/dlq.py so the page's other edits merge easily. Broker- and
registry-supplied text is shown as plain text (``st.code`` / ``st.text``), never as Markdown."""
from __future__ import annotations

import streamlit as st

from dlq import api
from dlq.schema_view import FIELD_OPS, short
from views import frames


def field_filter() -> dict[str, str]:
    """Filter on a decoded field (Kafka clusters with a schema registry): path, equals/contains, value."""
    c1, c2, c3 = st.columns([3, 2, 3])
    path = c1.text_input("Decoded field (e.g. total.currency)", key="f_field", bind="query-params")
    op = c2.selectbox("Match", FIELD_OPS, key="f_field_op", bind="query-params")
    value = c3.text_input("Field value", key="f_field_value", bind="query-params")
    if path:
        st.caption("The decoded-field filter narrows what is shown; a filter replay cannot select on decoded "
                   "fields (it is refused): tick the rows to replay them.")
    return {"field": path, "field_op": op, "field_value": value} if path else {}


def schema_cell(m: dict) -> str:
    """The table's ``schema`` column: ``avro decoded`` / the reason / ''."""
    return short(m.get("schema"))


def schema_detail(m: dict, limit: int) -> None:
    """Decoded value and its schema (subject, version, id), or why it could not be decoded."""
    for side, s in (("Value", m.get("schema")), ("Key", m.get("key_schema"))):
        if not s:
            continue
        if s["status"] == "decoded":
            st.caption(f"{side} decoded ({s['format']}): {frames.md_escape(s['label'], 300)}")
            st.code(s["decoded"], language="json")
        else:
            st.caption(f"{side} not decoded ({frames.md_escape(s.get('label') or 'schema', 300)}): shown raw")
            st.text(frames.escape_text(s.get("detail") or s["reason"], limit))  # the detail starts with the reason


def schema_edit(request: dict, m: dict, settings) -> dict | None | bool:
    """Edit of a schema'd message: the decoded JSON, re-encoded with the message's OWN schema id. Returns the
    edit (with ``schema: True``), None (not schema'd / not editing) or False (refused: the validation error
    is shown and Confirm stays disabled)."""
    s = m.get("schema")
    if not s or s["status"] != "decoded" or request["broker"] != "kafka":
        return None
    if s.get("decoded_truncated"):
        st.caption("Edit before replay: the decoded value is too large to edit here.")
        return None
    if not st.toggle(f"Edit the decoded value before replay ({s['format']}, {frames.md_escape(s['label'], 200)})",
                     key="edit_schema_on"):
        return None
    st.caption("The edit is re-encoded with this message's own schema (never the subject's latest) and "
               "validated before it is published; the original stays in the DLQ. Avro uses its JSON encoding: "
               "a union value is written as {\"type\": value}.")
    text = st.text_area("Decoded value (JSON)", value=s["decoded"], height=240, key="edit_schema_payload")
    slot = st.empty()  # the refusal's one place, present or not: the dialog's buttons below never move
    error = api.check_schema_edit(settings, request["cluster"], request["dlq"],
                                  m["coord"], text)
    if error:
        slot.error("Refused: " + frames.md_escape(error, 1000))
        return False
    return {"coord": m["coord"], "payload": text, "schema": True,
            "headers": {k: v for k, v in m["headers"].items() if not k.startswith("eventdeck-replay-")}}
