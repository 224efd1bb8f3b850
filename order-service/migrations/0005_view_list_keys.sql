-- Lists walk an index in their own order (newest first: the order's creation time, then its
-- id) and stop after a page, so their cost does not grow with the tables. A status filter
-- needs that sort key beside the status, in one table: the view keeps a copy of its order's
-- creation time, and every order has its view from the moment it is placed (PENDING, version
-- 0, written in the placing transaction), so a status list reads the views alone.
ALTER TABLE order_views ADD COLUMN IF NOT EXISTS order_created_at TIMESTAMPTZ;
UPDATE order_views v SET order_created_at = o.created_at
    FROM orders o WHERE o.order_id = v.order_id AND v.order_created_at IS NULL;
INSERT INTO order_views (order_id, status, version, order_created_at, updated_at)
    SELECT o.order_id, 'PENDING', 0, o.created_at, o.created_at FROM orders o
    WHERE NOT EXISTS (SELECT 1 FROM order_views v WHERE v.order_id = o.order_id);
CREATE INDEX IF NOT EXISTS order_views_status_newest
    ON order_views (status, order_created_at DESC, order_id DESC);
-- Its leading column answers what this one did.
DROP INDEX IF EXISTS order_views_status;
