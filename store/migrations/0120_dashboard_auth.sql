-- Dashboard sign-in: server-side sessions (the cookie carries a token; only its SHA-256 is stored) and
-- failed sign-ins (a lockout is counted per user and per client address, across browser sessions).
CREATE TABLE dashboard_sessions (
    token_sha256  TEXT PRIMARY KEY,
    user_name     TEXT NOT NULL,
    role          TEXT NOT NULL,
    address       TEXT,
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL,
    revoked_ms    INTEGER,
    handoff_sha256 TEXT,              -- one-time code the browser trades for the cookie
    handoff_expires_ms INTEGER
);
CREATE INDEX dashboard_sessions_by_handoff ON dashboard_sessions (handoff_sha256);

CREATE TABLE signin_failures (
    subject TEXT NOT NULL,            -- 'user:<name>' or 'address:<ip>'
    ts_ms   INTEGER NOT NULL
);
CREATE INDEX signin_failures_by_subject ON signin_failures (subject, ts_ms);

-- The key session cookies are signed with (made on first use; never leaves the store).
CREATE TABLE dashboard_keys (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    key_hex TEXT NOT NULL
);
