-- What became of a customer's cancellation request: REQUESTED, then ACCEPTED or REJECTED (with
-- shipping's reason). A rejected request leaves the status as it was, so without these the
-- client could not tell a refusal from a request still under way.
ALTER TABLE order_views ADD COLUMN IF NOT EXISTS cancellation_request TEXT;
ALTER TABLE order_views ADD COLUMN IF NOT EXISTS cancellation_rejected_reason TEXT;
