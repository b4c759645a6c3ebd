-- Every result, kept for the raw window (24 h by default).
CREATE TABLE results (
    check_id   TEXT    NOT NULL,
    at_ms      INTEGER NOT NULL,
    health     TEXT    NOT NULL,
    latency_ms REAL,
    -- Only for results that are not up: the reason is what matters later.
    detail     TEXT
);
CREATE INDEX results_by_check_time ON results (check_id, at_ms);
CREATE INDEX results_by_time ON results (at_ms);

-- Per-minute (span_s = 60) and per-hour (span_s = 3600) aggregates, kept
-- for 90 days by default.
CREATE TABLE rollups (
    check_id TEXT    NOT NULL,
    span_s   INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    lat_min  REAL,
    lat_avg  REAL,
    lat_p95  REAL,
    lat_max  REAL,
    PRIMARY KEY (check_id, span_s, start_ms)
) WITHOUT ROWID;

-- Went down, recovered, …: one row per change of health.
CREATE TABLE changes (
    check_id    TEXT    NOT NULL,
    at_ms       INTEGER NOT NULL,
    from_health TEXT,
    to_health   TEXT    NOT NULL,
    detail      TEXT
);
CREATE INDEX changes_by_check_time ON changes (check_id, at_ms);

-- How far roll-ups have got, per span, so each span is aggregated once.
CREATE TABLE rollup_progress (
    span_s  INTEGER PRIMARY KEY,
    done_ms INTEGER NOT NULL
);
