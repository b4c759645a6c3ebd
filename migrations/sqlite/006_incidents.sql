-- Incidents: what people tell everyone about an outage. Each update is a
-- row; an incident's status is its newest update's. `checks` is a JSON
-- array of check ids (an incident names a few; none are queried by check).
CREATE TABLE incidents (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    title     TEXT    NOT NULL,
    checks    TEXT    NOT NULL,
    opened_ms INTEGER NOT NULL,
    -- Set by the update that resolves it, cleared by one that reopens it.
    resolved_ms INTEGER
);
CREATE TABLE incident_updates (
    incident INTEGER NOT NULL REFERENCES incidents (id),
    at_ms    INTEGER NOT NULL,
    status   TEXT    NOT NULL,
    message  TEXT    NOT NULL,
    author   TEXT    NOT NULL
);
CREATE INDEX incident_updates_by_incident ON incident_updates (incident, at_ms);
