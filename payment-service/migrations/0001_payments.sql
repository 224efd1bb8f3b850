-- One payment per order: the unique order_id makes a second authorization impossible even if
-- OrderPlaced were applied twice.
CREATE TABLE payments (
    payment_id     UUID PRIMARY KEY,
    order_id       UUID        NOT NULL UNIQUE,
    status         TEXT        NOT NULL CHECK (status IN ('AUTHORIZED', 'DECLINED', 'REFUNDED')),
    amount_cents   BIGINT      NOT NULL,
    currency       TEXT        NOT NULL,
    decline_reason TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
