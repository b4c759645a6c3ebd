-- The alerts' outbox of a cluster (see migrations/sqlite/004_alerts.sql for
-- one node's). Every replica judges every result of the shared log and
-- writes what it makes happen; `alerts_open` is the one state they all
-- move, row-locked, so each firing, reminder and resolution is accepted
-- once (src/alerts/outbox/postgres.rs), and the outbox key keeps each
-- event's row for a notifier once.
CREATE TABLE alerts_open (
    check_id    text PRIMARY KEY,
    open        boolean NOT NULL,
    since_ms    bigint  NOT NULL,
    reminded_ms bigint  NOT NULL,
    -- The result time of the last event taken: an older one (a replica
    -- behind the others) is not taken after it.
    changed_ms  bigint  NOT NULL DEFAULT 0
);

CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notifier    text    NOT NULL,
    event       text    NOT NULL,     -- fired, reminder, resolved
    check_id    text    NOT NULL,
    alert       text    NOT NULL,     -- what happened, as JSON
    at_ms       bigint  NOT NULL,     -- the result that made it happen
    created_ms  bigint  NOT NULL,
    message     bigint,               -- the message it went in (its first row's id), once tried
    attempts    integer NOT NULL DEFAULT 0,
    next_try_ms bigint  NOT NULL,
    last_error  text,
    sent_ms     bigint,
    expired_ms  bigint,
    UNIQUE (notifier, check_id, event, at_ms)
);
CREATE INDEX outbox_waiting ON outbox (notifier, id) WHERE sent_ms IS NULL AND expired_ms IS NULL;

-- The cluster's name in message ids, made once, here.
CREATE TABLE outbox_identity (name text NOT NULL);
INSERT INTO outbox_identity (name) VALUES (substr(md5(random()::text || clock_timestamp()::text), 1, 16));

-- Which replica sends, until when (Postgres's clock, in Unix ms).
CREATE TABLE dispatcher_lease (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    holder   text   NOT NULL,
    until_ms bigint NOT NULL
);
