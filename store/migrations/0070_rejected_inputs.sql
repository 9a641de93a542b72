-- The last few examples of inputs a decoder rejected (truncated text), shown on the System page.
-- Their counts are the series eventdeck_rejected_inputs_total{source,reason}.
CREATE TABLE rejected_examples (
    id     INTEGER PRIMARY KEY,
    ts_ms  INTEGER NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    text   TEXT NOT NULL
);
CREATE INDEX rejected_examples_by_source ON rejected_examples (source, id);
