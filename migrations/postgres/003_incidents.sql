-- Incidents of a cluster (see migrations/sqlite/006_incidents.sql for one
-- node's): every replica writes and reads these, each write judged under
-- one advisory lock (src/incidents/postgres.rs), and each commit told to
-- every replica with NOTIFY pulse_incidents.
CREATE TABLE incidents (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title       text   NOT NULL,
    checks      text   NOT NULL,     -- a JSON array of check ids
    opened_ms   bigint NOT NULL,
    -- Set by the update that resolves it, cleared by one that reopens it.
    resolved_ms bigint
);
CREATE TABLE incident_updates (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident bigint NOT NULL REFERENCES incidents (id),
    at_ms    bigint NOT NULL,
    status   text   NOT NULL,
    message  text   NOT NULL,
    author   text   NOT NULL
);
CREATE INDEX incident_updates_by_incident ON incident_updates (incident, id);
-- The writes of the last minute, for the limit on them.
CREATE INDEX incident_updates_by_time ON incident_updates (at_ms);
CREATE INDEX incidents_open ON incidents (opened_ms) WHERE resolved_ms IS NULL;
