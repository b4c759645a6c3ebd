-- As migrations/sqlite/008_alert_messages.sql: each message's body, kept
-- when its rows are put in it and sent as those bytes on every try; and
-- the notifiers told of each open alert, whom its resolution goes to
-- (NULL for an alert opened before this column: those its rule names).
CREATE TABLE outbox_messages (
    message bigint PRIMARY KEY,   -- its first row's id, as in outbox.message
    body    text   NOT NULL       -- the message as JSON: the webhook's body, byte for byte
);
CREATE INDEX outbox_by_message ON outbox (message);

ALTER TABLE alerts_open ADD COLUMN notified text[];
