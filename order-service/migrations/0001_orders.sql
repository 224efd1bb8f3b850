-- The orders this service accepted: the write side. The saga state (cancellation requested or
-- done) lives here too, guarded by the row lock.
CREATE TABLE orders (
    order_id               UUID PRIMARY KEY,
    customer_id            TEXT        NOT NULL,
    currency               TEXT        NOT NULL,
    items                  JSONB       NOT NULL,
    total_cents            BIGINT      NOT NULL,
    idempotency_key        TEXT UNIQUE,
    -- The normalized request, to tell a retry (same body) from a key reused for another order.
    request                JSONB       NOT NULL,
    cancellation_requested BOOLEAN     NOT NULL DEFAULT false,
    cancelled              BOOLEAN     NOT NULL DEFAULT false,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX orders_newest ON orders (created_at DESC, order_id DESC);
CREATE INDEX orders_customer_newest ON orders (customer_id, created_at DESC, order_id DESC);

-- The order status read model, built by the consumer group order-status-projector from the
-- orders, payments and shipments topics. Facts are kept separately and the status is derived
-- from them, so events of different topics may arrive in any order.
CREATE TABLE order_views (
    order_id            UUID PRIMARY KEY,
    status              TEXT        NOT NULL,
    cancellation_reason TEXT,
    payment_id          UUID,
    payment_status      TEXT,
    payment_amount      BIGINT,
    decline_reason      TEXT,
    shipment_id         UUID,
    shipment_status     TEXT,
    version             BIGINT      NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX order_views_status ON order_views (status);

-- Every event applied to a view, for GET /orders/{id}/events.
CREATE TABLE order_view_events (
    seq          BIGSERIAL PRIMARY KEY,
    order_id     UUID        NOT NULL,
    event_id     UUID        NOT NULL,
    event_type   TEXT        NOT NULL,
    topic        TEXT        NOT NULL,
    kafka_partition INT      NOT NULL,
    kafka_offset BIGINT      NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL,
    trace_id     TEXT
);
CREATE INDEX order_view_events_order ON order_view_events (order_id, seq);
