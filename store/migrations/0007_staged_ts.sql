-- The distinct timestamps present in samples_recent (a tick has one). Readers look staged rows up
-- by (ts_ms, series_id) for each staged timestamp instead of scanning every staged row.
CREATE TABLE staged_ts (ts_ms INTEGER PRIMARY KEY);
INSERT OR IGNORE INTO staged_ts (ts_ms) SELECT DISTINCT ts_ms FROM samples_recent;
