-- 1-minute and 1-hour rollups (min, max, sum+count for avg, last), backfilled from raw samples.
CREATE TABLE rollup_1m (
    series_id  INTEGER NOT NULL,
    bucket_ms  INTEGER NOT NULL,
    min_v      REAL NOT NULL,
    max_v      REAL NOT NULL,
    sum_v      REAL NOT NULL,
    cnt        INTEGER NOT NULL,
    last_ts_ms INTEGER NOT NULL,
    last_v     REAL NOT NULL,
    PRIMARY KEY (series_id, bucket_ms)
) WITHOUT ROWID;

CREATE TABLE rollup_1h (
    series_id  INTEGER NOT NULL,
    bucket_ms  INTEGER NOT NULL,
    min_v      REAL NOT NULL,
    max_v      REAL NOT NULL,
    sum_v      REAL NOT NULL,
    cnt        INTEGER NOT NULL,
    last_ts_ms INTEGER NOT NULL,
    last_v     REAL NOT NULL,
    PRIMARY KEY (series_id, bucket_ms)
) WITHOUT ROWID;

INSERT INTO rollup_1m
SELECT a.series_id, a.bucket_ms, a.min_v, a.max_v, a.sum_v, a.cnt, a.last_ts_ms, s.value
FROM (SELECT series_id, ts_ms / 60000 * 60000 AS bucket_ms, min(value) AS min_v, max(value) AS max_v,
             sum(value) AS sum_v, count(*) AS cnt, max(ts_ms) AS last_ts_ms
      FROM samples GROUP BY series_id, ts_ms / 60000) AS a
JOIN samples AS s ON s.series_id = a.series_id AND s.ts_ms = a.last_ts_ms;

INSERT INTO rollup_1h
SELECT a.series_id, a.bucket_ms, a.min_v, a.max_v, a.sum_v, a.cnt, a.last_ts_ms, s.value
FROM (SELECT series_id, ts_ms / 3600000 * 3600000 AS bucket_ms, min(value) AS min_v, max(value) AS max_v,
             sum(value) AS sum_v, count(*) AS cnt, max(ts_ms) AS last_ts_ms
      FROM samples GROUP BY series_id, ts_ms / 3600000) AS a
JOIN samples AS s ON s.series_id = a.series_id AND s.ts_ms = a.last_ts_ms;
