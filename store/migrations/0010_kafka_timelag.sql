-- Kafka time lag: the sliding (time seen, log-end offset) table per partition, mirrored row by
-- row from collectors.timelag so interpolation resumes after a collector restart.
CREATE TABLE kafka_timelag_points (
    cluster    TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    partition  INTEGER NOT NULL,
    ts_ms      INTEGER NOT NULL,
    end_offset INTEGER NOT NULL,
    PRIMARY KEY (cluster, topic, partition, ts_ms)
) WITHOUT ROWID;
