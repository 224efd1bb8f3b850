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
