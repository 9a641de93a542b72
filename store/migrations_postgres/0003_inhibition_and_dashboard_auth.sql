-- What SQLite got in 0090 (inhibition) and 0120 (dashboard sign-in), for PostgreSQL stores.
ALTER TABLE alert_state ADD COLUMN inhibited_by text;

CREATE TABLE dashboard_sessions (
    token_sha256       text PRIMARY KEY,
    user_name          text NOT NULL,
    role               text NOT NULL,
    address            text,
    created_ms         bigint NOT NULL,
    expires_ms         bigint NOT NULL,
    revoked_ms         bigint,
    handoff_sha256     text,
    handoff_expires_ms bigint
);
CREATE INDEX dashboard_sessions_by_handoff ON dashboard_sessions (handoff_sha256);

CREATE TABLE signin_failures (
    subject text NOT NULL,
    ts_ms   bigint NOT NULL
);
CREATE INDEX signin_failures_by_subject ON signin_failures (subject, ts_ms);

CREATE TABLE dashboard_keys (
    id      integer PRIMARY KEY CHECK (id = 1),
    key_hex text NOT NULL
);
