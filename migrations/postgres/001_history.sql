-- The shared history of a cluster: the same data as the SQLite file of
-- one node (migrations/sqlite/), in the shape SQLite reached by its
-- migration 005. Healths are codes (0 up, 1 degraded, 2 down, 3 unknown),
-- latencies whole microseconds, times Unix milliseconds.

CREATE TABLE checks (
    num bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id  text NOT NULL UNIQUE
);

-- One row per check and period: every replica of a cluster writes what it
-- reads from the shared log, and the key makes the second write a no-op.
CREATE TABLE results_data (
    check_num   bigint   NOT NULL REFERENCES checks (num),
    at_ms       bigint   NOT NULL,
    health      smallint NOT NULL,
    latency_us  bigint,
    detail      text,
    maintenance boolean  NOT NULL DEFAULT false,
    PRIMARY KEY (check_num, at_ms)
);
-- Roll-ups and pruning read by time across every check; rows arrive in
-- time order, so a BRIN index is tiny and enough.
CREATE INDEX results_by_time ON results_data USING brin (at_ms);

CREATE TABLE rollups_data (
    check_num       bigint  NOT NULL REFERENCES checks (num),
    span_s          integer NOT NULL,
    start_ms        bigint  NOT NULL,
    count           bigint  NOT NULL,
    failures        bigint  NOT NULL,
    lat_min_us      bigint,
    lat_avg_us      bigint,
    lat_p95_us      bigint,
    lat_max_us      bigint,
    uptime_count    bigint  NOT NULL,
    uptime_failures bigint  NOT NULL,
    PRIMARY KEY (check_num, span_s, start_ms)
);

CREATE TABLE changes_data (
    check_num bigint   NOT NULL REFERENCES checks (num),
    at_ms     bigint   NOT NULL,
    seq       bigint   GENERATED ALWAYS AS IDENTITY,
    from_code smallint,
    to_code   smallint NOT NULL,
    detail    text,
    PRIMARY KEY (check_num, at_ms)
);
CREATE INDEX changes_newest ON changes_data (seq);

-- Aggregates of each span are complete before done_ms; 0 means none yet.
-- The rows exist from the start so that every write can lock them (see
-- src/history/postgres.rs, `REOPEN_ROLLED_UP_SPANS`).
CREATE TABLE rollup_progress (
    span_s  integer PRIMARY KEY,
    done_ms bigint NOT NULL
);
INSERT INTO rollup_progress (span_s, done_ms) VALUES (60, 0), (3600, 0);
