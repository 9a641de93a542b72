-- Compressed chunks: one per series per closed window, for raw samples (2 h windows) and 1-hour
-- rollups (7-day windows); store.seal moves closed windows out of samples / rollup_1h into these,
-- store.codec holds the blob format. 1-minute rollups of closed windows are not kept: they are
-- computed from the raw chunks (as chunks they measured ~2x the size of the raw chunk itself). Rowid tables: multi-KB blobs overflow badly in a WITHOUT ROWID table
-- (measured 3.3x larger). t_end is the window's exclusive end; n the samples (buckets) it holds.
-- Existing rows are converted by the sealing job in batches (the collector service runs it at
-- start), so this migration only creates the tables.
CREATE TABLE sample_chunks (
    id        INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    t_start   INTEGER NOT NULL,
    t_end     INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE UNIQUE INDEX sample_chunks_by_series ON sample_chunks (series_id, t_start);

CREATE TABLE rollup_1h_chunks (
    id        INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    t_start   INTEGER NOT NULL,
    t_end     INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    data      BLOB NOT NULL
);
CREATE UNIQUE INDEX rollup_1h_chunks_by_series ON rollup_1h_chunks (series_id, t_start);
