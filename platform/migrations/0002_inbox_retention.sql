-- The consumers delete inbox rows past their retention once a minute, per group.
CREATE INDEX IF NOT EXISTS inbox_retention ON inbox (consumer_group, processed_at);
