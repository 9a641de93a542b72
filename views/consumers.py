"""Consumers: processing time p50/p95/p99, throughput and error rates per consumer (from `instrument` telemetry)."""
from __future__ import annotations

import re

import streamlit as st

from core import links, metrics
from store import queries
from views import common, frames, units

ctx = common.page("Consumers", needs=lambda s: s.telemetry.enabled,
                  missing="consumer telemetry (telemetry.enabled is false)")

KEY = ["cluster", "broker", "consumer"]
quant = queries.latest(ctx.conn, "consumer_processing_seconds")
if quant.empty:
    common.no_data("no consumer has published telemetry — instrument a consumer with the `instrument` library")
    common.gone_section(ctx.conn, ["consumer_instances_count", "consumer_processing_seconds"], None, KEY, "consumers", "consumers_gone")
    st.stop()
qlabel = quant["quantile"].map(lambda q: "max" if q == "max" else f"p{round(float(q) * 100)}")
table = frames.wide(quant.assign(quantile=qlabel), KEY, "quantile")  # seconds, shown humanised like the chart
others = common.latest_wide(ctx.conn, metrics.columns(metrics.CONSUMER_PROCESSED_RATE_PER_S,
                                                     metrics.CONSUMER_ERROR_RATE_RATIO,
                                                     metrics.CONSUMER_INSTANCES_COUNT), None, KEY)
if not others.empty:
    table = table.merge(others, on=KEY, how="left")
c1, c2, c3 = st.columns(3)
c1.metric("Consumers", len(table))
c2.metric("Worst p99", units.duration(table["p99"].max()) if "p99" in table else units.MISSING)
c3.metric("Worst error ratio", units.ratio(table["error ratio"].max()) if "error ratio" in table else units.MISSING)
st.dataframe(frames.in_units(table.sort_values(KEY), durations=[c for c in table if re.fullmatch(r"max|p\d+", str(c))],
                             rates=["processed/s"], ratios=["error ratio"], counts=["instances"]),
             hide_index=True, key="consumers_table")
common.gone_section(ctx.conn, ["consumer_instances_count", "consumer_processing_seconds"], None, KEY, "consumers", "consumers_gone")

# Display name -> labels; a name is never split back (a consumer may be called "a / b"), and two consumers
# whose joined names collide get a numbered suffix.
choices: dict[str, tuple] = {}
for r in table[KEY].itertuples(index=False):
    name = links.consumer_label(*map(str, r))
    choices[name if name not in choices else f"{name} ({len(choices) + 1})"] = tuple(r)
picked = st.selectbox("Consumer", list(choices), key=links.CONSUMER, bind="query-params")
match = dict(zip(KEY, choices[picked]))
left, right = st.columns(2)
with left:
    common.history_chart(ctx, metrics.CONSUMER_PROCESSING_SECONDS, match, title=f"Processing time of {match['consumer']}",
                         unit=metrics.unit(metrics.CONSUMER_PROCESSING_SECONDS), label_cols=["quantile"], empty="no processing-time history in this time range",
                         key="consumer_latency_chart")
with right:
    common.history_chart(ctx, metrics.CONSUMER_ERROR_RATE_RATIO, match, title=f"Error ratio of {match['consumer']}",
                         unit=metrics.unit(metrics.CONSUMER_ERROR_RATE_RATIO), label_cols=["consumer"], empty="no error-rate history in this time range",
                         key="consumer_error_chart")
errors = queries.latest(ctx.conn, "consumer_errors_total", match)
st.subheader("Errors by exception")
common.table(frames.sum_by(errors, ["exception"]), "no handler error recorded", {"value": "errors (total)"},
             key="consumer_errors")
