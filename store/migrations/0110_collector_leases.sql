-- Collectors sharing targets by lease (runner.leases) need PostgreSQL; on SQLite the one collector
-- service writes alone and these tables stay empty. They exist so the System page reads one schema.
CREATE TABLE collector_members (
    member       TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    targets      TEXT NOT NULL,
    started_ms   INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL
);

CREATE TABLE target_leases (
    target      TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    acquired_ms INTEGER NOT NULL,
    renewed_ms  INTEGER NOT NULL,
    expires_ms  INTEGER NOT NULL
);
