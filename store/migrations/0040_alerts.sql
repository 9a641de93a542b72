-- Alerts: rules, per-(rule, group) state, transition history, silences, notification outbox.
CREATE TABLE IF NOT EXISTS alert_rules (
    name        TEXT PRIMARY KEY,
    spec        TEXT NOT NULL,             -- JSON of the validated rule
    builtin     INTEGER NOT NULL DEFAULT 0,
    updated_ms  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS alert_state (
    rule             TEXT NOT NULL,
    group_key        TEXT NOT NULL,        -- canonical JSON of the group's labels
    labels           TEXT NOT NULL,
    severity         TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('inactive','pending','firing','resolved')),
    active_since_ms  INTEGER,
    fired_at_ms      INTEGER,
    last_notified_ms INTEGER,
    resolved_at_ms   INTEGER,
    nodata_since_ms  INTEGER,
    value            REAL,
    summary          TEXT,
    silenced_by      TEXT,                 -- JSON list of silence ids muting it at the last evaluation
    updated_ms       INTEGER NOT NULL,
    PRIMARY KEY (rule, group_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alert_state_by_state ON alert_state(state);

CREATE TABLE IF NOT EXISTS alert_transitions (
    id          INTEGER PRIMARY KEY,
    ts_ms       INTEGER NOT NULL,
    rule        TEXT NOT NULL,
    group_key   TEXT NOT NULL,
    labels      TEXT NOT NULL,
    event       TEXT NOT NULL,              -- pending, cancelled, firing, repeat, resolved, nodata
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    value       REAL,
    silenced_by TEXT                        -- JSON list of silence ids, NULL when not silenced
);
CREATE INDEX IF NOT EXISTS alert_transitions_ts ON alert_transitions(ts_ms);

CREATE TABLE IF NOT EXISTS alert_silences (
    id          INTEGER PRIMARY KEY,
    matchers    TEXT NOT NULL,              -- JSON list of {label, op, value, negate}
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    expired_ms  INTEGER,
    expired_by  TEXT
);

CREATE TABLE IF NOT EXISTS alert_outbox (
    id              INTEGER PRIMARY KEY,
    created_ms      INTEGER NOT NULL,
    transition_id   INTEGER NOT NULL REFERENCES alert_transitions(id),
    rule            TEXT NOT NULL,
    target          TEXT NOT NULL,          -- name of the env var / secret holding the apprise URL
    title           TEXT NOT NULL,
    body            TEXT NOT NULL,
    notify_type     TEXT NOT NULL,          -- apprise type: info, warning, failure, success
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending','sent','failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    sent_ms         INTEGER,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS alert_outbox_due ON alert_outbox(status, next_attempt_ms);

CREATE TABLE IF NOT EXISTS alert_send_attempts (
    id         INTEGER PRIMARY KEY,
    outbox_id  INTEGER NOT NULL REFERENCES alert_outbox(id),
    ts_ms      INTEGER NOT NULL,
    ok         INTEGER NOT NULL,
    error      TEXT
);
CREATE INDEX IF NOT EXISTS alert_send_attempts_outbox ON alert_send_attempts(outbox_id);
