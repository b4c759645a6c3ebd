-- Results taken in a maintenance window are kept (the detail page shows
-- them) but left out of uptime: `maintenance` is 1 for them.
ALTER TABLE results_data ADD COLUMN maintenance INTEGER NOT NULL DEFAULT 0;
DROP VIEW results;
CREATE VIEW results AS
    SELECT c.id AS check_id, r.at_ms AS at_ms,
           CASE r.health WHEN 0 THEN 'up' WHEN 1 THEN 'degraded' WHEN 2 THEN 'down' ELSE 'unknown' END AS health,
           r.latency_us / 1000.0 AS latency_ms, r.detail AS detail, r.maintenance AS maintenance
    FROM checks c CROSS JOIN results_data r ON r.check_num = c.num;

-- Roll-ups keep `count` and `failures` of every result (the charts show
-- what happened) and, beside them, those out of maintenance (uptime).
-- Rows written before this migration had no window: the same numbers.
ALTER TABLE rollups_data ADD COLUMN uptime_count INTEGER;
ALTER TABLE rollups_data ADD COLUMN uptime_failures INTEGER;
DROP VIEW rollups;
CREATE VIEW rollups AS
    SELECT c.id AS check_id, r.span_s AS span_s, r.start_ms AS start_ms, r.count AS count,
           r.failures AS failures, r.lat_min_us / 1000.0 AS lat_min, r.lat_avg_us / 1000.0 AS lat_avg,
           r.lat_p95_us / 1000.0 AS lat_p95, r.lat_max_us / 1000.0 AS lat_max,
           COALESCE(r.uptime_count, r.count) AS uptime_count,
           COALESCE(r.uptime_failures, r.failures) AS uptime_failures
    FROM checks c CROSS JOIN rollups_data r ON r.check_num = c.num;
