-- Smaller rows: each check's id is stored once, in `checks`, and results and
-- aggregates refer to it by number; health is a number; both tables are
-- clustered by (check, time), so no separate per-check index is needed.
-- Views keep the old shape (`results`, `rollups`) for every query that reads.
CREATE TABLE checks (
    num INTEGER PRIMARY KEY,
    id  TEXT NOT NULL UNIQUE
);
INSERT OR IGNORE INTO checks (id)
    SELECT check_id FROM results UNION SELECT check_id FROM rollups;

-- health: 0 up, 1 degraded, 2 down, 3 unknown.
CREATE TABLE results_data (
    check_num  INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    health     INTEGER NOT NULL,
    latency_ms REAL,
    detail     TEXT,
    PRIMARY KEY (check_num, at_ms)
) WITHOUT ROWID;
INSERT OR REPLACE INTO results_data
    SELECT c.num, r.at_ms,
           CASE r.health WHEN 'up' THEN 0 WHEN 'degraded' THEN 1 WHEN 'down' THEN 2 ELSE 3 END,
           r.latency_ms, r.detail
    FROM results r JOIN checks c ON c.id = r.check_id;
DROP TABLE results;
CREATE INDEX results_data_by_time ON results_data (at_ms);
CREATE VIEW results AS
    SELECT c.id AS check_id, r.at_ms AS at_ms,
           CASE r.health WHEN 0 THEN 'up' WHEN 1 THEN 'degraded' WHEN 2 THEN 'down' ELSE 'unknown' END AS health,
           r.latency_ms AS latency_ms, r.detail AS detail
    FROM results_data r JOIN checks c ON c.num = r.check_num;

CREATE TABLE rollups_data (
    check_num INTEGER NOT NULL,
    span_s    INTEGER NOT NULL,
    start_ms  INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    failures  INTEGER NOT NULL,
    lat_min   REAL,
    lat_avg   REAL,
    lat_p95   REAL,
    lat_max   REAL,
    PRIMARY KEY (check_num, span_s, start_ms)
) WITHOUT ROWID;
INSERT OR REPLACE INTO rollups_data
    SELECT c.num, r.span_s, r.start_ms, r.count, r.failures, r.lat_min, r.lat_avg, r.lat_p95, r.lat_max
    FROM rollups r JOIN checks c ON c.id = r.check_id;
DROP TABLE rollups;
CREATE INDEX rollups_data_by_time ON rollups_data (span_s, start_ms);
CREATE VIEW rollups AS
    SELECT c.id AS check_id, r.span_s AS span_s, r.start_ms AS start_ms, r.count AS count,
           r.failures AS failures, r.lat_min AS lat_min, r.lat_avg AS lat_avg,
           r.lat_p95 AS lat_p95, r.lat_max AS lat_max
    FROM rollups_data r JOIN checks c ON c.num = r.check_num;
