-- Incident writes are limited per minute for everyone together, counted
-- from the updates written in the last minute (src/incidents/mod.rs): the
-- count is the same in a cluster's Postgres, where a replica's own counter
-- would not be.
CREATE INDEX incident_updates_by_time ON incident_updates (at_ms);
