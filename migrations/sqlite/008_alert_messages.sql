-- A message is composed once, when its rows are put in it, and kept here
-- in that same transaction: every try sends these bytes, so a retry (after
-- a restart too) says what the first try said, whatever the rules hold by
-- then. Dropped with the last of its rows.
CREATE TABLE outbox_messages (
    message INTEGER PRIMARY KEY,   -- its first row's id, as in outbox.message
    body    TEXT NOT NULL          -- the message as JSON: the webhook's body, byte for byte
);
CREATE INDEX outbox_by_message ON outbox (message);

-- The notifiers told of an open alert (its firing and reminders), as a
-- JSON array: its resolution goes to them, whatever its rule names by
-- then. NULL for an alert opened before this column: its resolution goes
-- to the notifiers its rule names then, as it always did.
ALTER TABLE alerts_open ADD COLUMN notified TEXT;
