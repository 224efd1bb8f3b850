-- The outbox churns: every row is inserted, updated once (published) and deleted. Keep its
-- statistics fresh so the relay's "oldest pending rows" query keeps using the ordered scan of
-- outbox_pending after a backlog (an outage) instead of reading and sorting every pending row.
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.01
);
