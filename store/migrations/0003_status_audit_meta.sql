-- Collector status per target, the audit log, and small store bookkeeping values.
CREATE TABLE collector_status (
    target      TEXT PRIMARY KEY,
    up          INTEGER NOT NULL,
    reason      TEXT,
    since_ms    INTEGER NOT NULL,   -- when `up` last changed
    last_ms     INTEGER NOT NULL,   -- last report
    last_ok_ms  INTEGER,            -- last report with up = 1
    duration_ms INTEGER
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    ts_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL,          -- JSON object
    outcome TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit_log (ts_ms);

-- key/value bookkeeping: retention cut-offs per tier, series garbage-collection generation
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
