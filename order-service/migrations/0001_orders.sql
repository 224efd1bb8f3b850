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
-- from them, so events of different topics may arrive in any order. Every order has its view
-- from the moment it is placed (PENDING, version 0, written in the placing transaction). No
-- trigger notifies of changes: the projector sends one notification per batch with the ids it
-- changed (order-service/src/handlers/projector.rs), as a NOTIFY per row would serialize the
-- commits of every transaction that writes a view, placements included.
CREATE TABLE order_views (
    order_id                     UUID PRIMARY KEY,
    status                       TEXT        NOT NULL,
    cancellation_reason          TEXT,
    payment_id                   UUID,
    payment_status               TEXT,
    payment_amount               BIGINT,
    decline_reason               TEXT,
    shipment_id                  UUID,
    shipment_status              TEXT,
    version                      BIGINT      NOT NULL,
    updated_at                   TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- What became of a customer's cancellation request: REQUESTED, then ACCEPTED or REJECTED
    -- (with shipping's reason). A rejected request leaves the status as it was, so without
    -- these the client could not tell a refusal from a request still under way.
    cancellation_request         TEXT,
    cancellation_rejected_reason TEXT,
    -- A copy of the order's creation time: the sort key of the lists, beside the status in
    -- one table, so a status list walks one index in its own order and stops after a page.
    order_created_at             TIMESTAMPTZ
);
CREATE INDEX order_views_status_newest
    ON order_views (status, order_created_at DESC, order_id DESC);

-- Every event applied to a view, for GET /orders/{id}/events.
CREATE TABLE order_view_events (
    seq             BIGSERIAL PRIMARY KEY,
    order_id        UUID        NOT NULL,
    event_id        UUID        NOT NULL,
    event_type      TEXT        NOT NULL,
    topic           TEXT        NOT NULL,
    kafka_partition INT         NOT NULL,
    kafka_offset    BIGINT      NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    trace_id        TEXT
);
CREATE INDEX order_view_events_order ON order_view_events (order_id, seq);

-- Where the order-status projector stands in each partition: the offset after the last event
-- it applied, written in the same transaction as the views. The projector skips what lies
-- below it, so a read model rebuilt from the log can be swapped in with its own positions and
-- the running projector continues exactly where the rebuild stopped (`orderflow replay
-- read-model --swap`).
CREATE TABLE order_views_positions (
    topic           TEXT   NOT NULL,
    kafka_partition INT    NOT NULL,
    next_offset     BIGINT NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
);
