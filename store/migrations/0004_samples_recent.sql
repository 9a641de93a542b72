-- Write-behind staging for raw samples. Collectors write one sample per series per tick; put
-- straight into `samples` (keyed by series) every tick touches one page per series and the commit
-- writes thousands of WAL frames. Ticks land here instead (small table, few pages) and are moved
-- into `samples` and the rollups in one go every few minutes, ~20 samples per series page write.
-- Queries read both tables.
CREATE TABLE samples_recent (
    series_id INTEGER NOT NULL,
    ts_ms     INTEGER NOT NULL,
    value     REAL NOT NULL,
    PRIMARY KEY (series_id, ts_ms)
) WITHOUT ROWID;
