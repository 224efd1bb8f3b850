-- The transactional outbox: a service inserts a row in the same transaction as the state change
-- it announces; the relay publishes it and deletes it once the broker acknowledged it, so every
-- row here is still to publish. `payload` is the Avro binary datum of the event written with
-- version `schema_version` of its type's schema (1-based, in the order of
-- schemas/avro/<topic>/<Event>.v<N>.avsc); the relay frames it with that version's registry id
-- (the Confluent header) at publish time, so writing a row needs neither Kafka nor the
-- registry, and during a rolling upgrade that adds a version a datum never goes out under
-- another version's id.
CREATE TABLE outbox (
    id             BIGSERIAL PRIMARY KEY,
    event_id       UUID        NOT NULL UNIQUE,
    topic          TEXT        NOT NULL,
    message_key    TEXT        NOT NULL,
    event_type     TEXT        NOT NULL,
    payload        BYTEA       NOT NULL,
    traceparent    TEXT,
    schema_version INT         NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- The table churns (every row is inserted and deleted): fresh statistics keep the relay's
-- "oldest rows" query an ordered scan of the primary key after a backlog (an outage).
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.01
);
-- No trigger: a transaction that sends NOTIFY takes a database-wide lock at commit, which would
-- serialize every transaction writing an outbox row. The relay of the writing process is woken
-- directly after the commit, and a standby relay passes the wake-up on to the leader with a
-- NOTIFY of its own, outside the business transaction (platform/src/outbox/).

-- The inbox: which events a consumer group has applied. Recorded in the handler's transaction,
-- so a redelivered event is recognised and has no second effect.
CREATE TABLE inbox (
    consumer_group TEXT        NOT NULL,
    event_id       UUID        NOT NULL,
    processed_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
-- The consumers delete inbox rows past their retention once a minute, per group.
CREATE INDEX inbox_retention ON inbox (consumer_group, processed_at);
