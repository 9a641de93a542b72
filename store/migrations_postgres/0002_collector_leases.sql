-- Collectors sharing targets (runner.leases): live members with their heartbeats and the targets they
-- are configured for, and one lease per target (owner, expiry). Times are the database's clock.
CREATE TABLE collector_members (
    member       text PRIMARY KEY,      -- host:pid:random, one per collector process
    host         text NOT NULL,
    pid          bigint NOT NULL,
    targets      text NOT NULL,         -- JSON list of the targets its configuration has
    started_ms   bigint NOT NULL,
    heartbeat_ms bigint NOT NULL
);

CREATE TABLE target_leases (
    target      text PRIMARY KEY,
    owner       text NOT NULL,
    acquired_ms bigint NOT NULL,
    renewed_ms  bigint NOT NULL,
    expires_ms  bigint NOT NULL
);
