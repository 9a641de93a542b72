-- Key staged samples by (ts_ms, series_id): a tick then appends to a few pages at the end of the
-- table instead of touching every page of it (measured: ~250 of ~700 WAL pages per 2,000-sample
-- batch). Readers scan the few minutes of staged rows; lookups by series use the big tables.
CREATE TABLE samples_recent_new (
    ts_ms     INTEGER NOT NULL,
    series_id INTEGER NOT NULL,
    value     REAL NOT NULL,
    PRIMARY KEY (ts_ms, series_id)
) WITHOUT ROWID;
INSERT INTO samples_recent_new (ts_ms, series_id, value) SELECT ts_ms, series_id, value FROM samples_recent;
DROP TABLE samples_recent;
ALTER TABLE samples_recent_new RENAME TO samples_recent;
