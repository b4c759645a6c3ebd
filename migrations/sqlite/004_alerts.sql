-- Alerts. `alerts_open` holds every alert that has fired and not resolved,
-- so that a restart neither fires it again nor forgets it. `outbox` holds
-- every message to send, one row per alert event and notifier: written in
-- the same transaction as the change to `alerts_open`, marked once the
-- notifier confirmed it, so a restart at any moment neither loses nor
-- repeats one.
CREATE TABLE alerts_open (
    check_id    TEXT PRIMARY KEY,
    since_ms    INTEGER NOT NULL,
    reminded_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- AUTOINCREMENT: an id is never used twice, even after pruning, since a
-- message's id (its first row's, with `outbox_identity`) tells receivers
-- a retry from a new message.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    notifier    TEXT NOT NULL,
    event       TEXT NOT NULL,     -- fired, reminder, resolved
    check_id    TEXT NOT NULL,
    alert       TEXT NOT NULL,     -- what happened, as JSON
    created_ms  INTEGER NOT NULL,
    message     INTEGER,           -- the message it went in (its first row's id), once tried
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_try_ms INTEGER NOT NULL,
    last_error  TEXT,
    sent_ms     INTEGER,
    expired_ms  INTEGER
);
-- A random name for this database, made once: message ids from two
-- databases (two installs, or a history file started anew) never match.
CREATE TABLE outbox_identity (
    name TEXT NOT NULL
);

CREATE INDEX outbox_waiting ON outbox (notifier, id) WHERE sent_ms IS NULL AND expired_ms IS NULL;
