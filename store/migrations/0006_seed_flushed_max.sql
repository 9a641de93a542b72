-- Flushes look for duplicates only among staged rows not newer than everything already in
-- `samples` (store_meta 'flushed_max_ts_ms'). Seed it for samples written before staging existed.
INSERT OR IGNORE INTO store_meta (key, value)
SELECT 'flushed_max_ts_ms', max(ts_ms) FROM samples WHERE EXISTS (SELECT 1 FROM samples);
