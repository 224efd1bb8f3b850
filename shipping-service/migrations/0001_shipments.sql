-- What shipping knows of each order. The row is the lock that serializes a cancellation with a
-- warehouse action on the same order: both lock it first.
CREATE TABLE shipping_orders (
    order_id   UUID PRIMARY KEY,
    cancelled  BOOLEAN     NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- At most one shipment per order.
CREATE TABLE shipments (
    shipment_id UUID PRIMARY KEY,
    order_id    UUID        NOT NULL UNIQUE REFERENCES shipping_orders (order_id),
    status      TEXT        NOT NULL CHECK (status IN ('SCHEDULED', 'DISPATCHED', 'DELIVERED', 'CANCELLED')),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
