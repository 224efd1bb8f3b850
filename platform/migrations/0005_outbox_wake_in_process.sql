-- Commits no longer notify: a transaction that sends NOTIFY takes a database-wide lock at commit,
-- which serialized every transaction writing an outbox row. The relay of the writing process is
-- woken directly after the commit, and a standby relay passes the wake-up on to the leader with a
-- NOTIFY of its own, outside the business transaction (platform/src/outbox/).
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS outbox_notify();
