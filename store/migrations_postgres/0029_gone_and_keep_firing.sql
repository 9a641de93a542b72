-- What SQLite got in 0290 (collection interval per target; keep_firing_for), for PostgreSQL stores.
ALTER TABLE collector_status ADD COLUMN interval_ms bigint;
ALTER TABLE alert_state ADD COLUMN clear_since_ms bigint;
