-- DLQ replay: jobs, per-message outcome, the ledger of replayed DLQ coordinates, in-flight sends.
CREATE TABLE dlq_jobs (
    id           INTEGER PRIMARY KEY,
    broker       TEXT NOT NULL CHECK (broker IN ('kafka', 'rabbitmq')),
    cluster      TEXT NOT NULL,
    dlq          TEXT NOT NULL,
    request      TEXT NOT NULL,            -- JSON: selection, target, rate, force, mode
    actor        TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    cancel       INTEGER NOT NULL DEFAULT 0,
    owner        TEXT,                     -- host:pid of the runner holding it
    created_ms   INTEGER NOT NULL,
    started_ms   INTEGER,
    heartbeat_ms INTEGER,
    finished_ms  INTEGER,
    total        INTEGER,                  -- selected messages, once known
    replayed     INTEGER NOT NULL DEFAULT 0,
    parked       INTEGER NOT NULL DEFAULT 0,
    skipped      INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    marks        TEXT NOT NULL DEFAULT '{}' -- JSON: Kafka target partition -> offset scanned from on resume
);
CREATE INDEX dlq_jobs_by_state ON dlq_jobs (state, id);

CREATE TABLE dlq_job_messages (
    job_id    INTEGER NOT NULL REFERENCES dlq_jobs (id),
    replay_id TEXT NOT NULL,
    coord     TEXT NOT NULL,
    outcome   TEXT NOT NULL CHECK (outcome IN ('replayed', 'parked', 'skipped', 'failed')),
    target    TEXT,
    detail    TEXT,
    ts_ms     INTEGER NOT NULL,
    PRIMARY KEY (job_id, replay_id)
) WITHOUT ROWID;

-- One row per DLQ message ever replayed or parked; replay_id is derived from the coordinates.
CREATE TABLE dlq_ledger (
    broker       TEXT NOT NULL,
    cluster      TEXT NOT NULL,
    dlq          TEXT NOT NULL,
    coord        TEXT NOT NULL,
    replay_id    TEXT NOT NULL UNIQUE,
    state        TEXT NOT NULL CHECK (state IN ('replayed', 'parked')),
    target       TEXT NOT NULL,
    target_coord TEXT,
    times        INTEGER NOT NULL DEFAULT 1,
    job_id       INTEGER NOT NULL,
    updated_ms   INTEGER NOT NULL,
    PRIMARY KEY (broker, cluster, dlq, coord)
) WITHOUT ROWID;

-- Kafka sends written before a batch is produced; a resumed job reconciles them with the target.
CREATE TABLE dlq_inflight (
    job_id    INTEGER NOT NULL REFERENCES dlq_jobs (id),
    replay_id TEXT NOT NULL,
    coord     TEXT NOT NULL,
    action    TEXT NOT NULL CHECK (action IN ('replayed', 'parked')),
    target    TEXT NOT NULL,
    PRIMARY KEY (job_id, replay_id)
) WITHOUT ROWID;
