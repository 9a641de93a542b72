-- Series registry, raw samples and the latest value of every series.
CREATE TABLE series (
    id      INTEGER PRIMARY KEY,
    metric  TEXT NOT NULL,
    labels  TEXT NOT NULL,            -- canonical JSON object, keys sorted
    source  TEXT NOT NULL,            -- metric prefix before the first '_'
    cluster TEXT NOT NULL DEFAULT '', -- labels['cluster'] or ''
    entity  TEXT NOT NULL DEFAULT '', -- first of group/queue/dlq/consumer/topic/target or ''
    UNIQUE (metric, labels)
);
CREATE INDEX series_by_metric ON series (metric, cluster, entity);

CREATE TABLE samples (
    series_id INTEGER NOT NULL,
    ts_ms     INTEGER NOT NULL,
    value     REAL NOT NULL,
    PRIMARY KEY (series_id, ts_ms)
) WITHOUT ROWID;

CREATE TABLE latest (
    series_id INTEGER PRIMARY KEY,
    ts_ms     INTEGER NOT NULL,
    value     REAL NOT NULL
);
