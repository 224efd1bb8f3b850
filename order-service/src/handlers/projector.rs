//! The order status projection: applies every event of an order to its view.
//!
//! The fold itself ([`crate::domain::status::Facts`]) is pure; this module writes its result
//! into a set of tables ([`ViewTables`]): the live read model (`order_views`,
//! `order_view_events`, `order_views_positions`) for the `order-status-projector` group, or a
//! shadow copy for a rebuild from the log (`orderflow replay read-model`), so both apply events
//! the same way.
//!
//! # Positions
//! Beside the views, the projection keeps the offset after the last event it applied in each
//! partition (`<views>_positions`), in the same transaction, and skips any event below it. The
//! live projector's Kafka offsets and inbox make redelivery harmless already; the positions
//! exist for the hand-over of a rebuild: a shadow swapped in (`replay read-model --swap`)
//! brings the positions it was built to, at or beyond the live projector's, and the projector,
//! still fetching from its own offsets, skips everything the shadow already holds and applies
//! the rest. Nothing is lost (the shadow caught up with the live positions under a lock before
//! the swap) and nothing is applied twice (the positions say where the shadow stops).

use crate::domain::status::Facts;
use platform::{
    consumer::{Handler, HandlerError, InboundEvent},
    db::Transaction,
    telemetry,
};

pub const GROUP: &str = "order-status-projector";

/// The tables a projection writes, with its statements built once for them.
#[derive(Clone, Debug)]
pub struct ViewTables {
    pub views: String,
    pub events: String,
    /// `<views>_positions`.
    pub positions: String,
    position: String,
    advance: String,
    create: String,
    select: String,
    update: String,
    record: String,
}

impl ViewTables {
    /// The live read model, which the API serves.
    pub fn live() -> Self {
        Self::named("order_views", "order_view_events")
    }

    /// Tables shaped like the live ones (`CREATE TABLE .. (LIKE order_views ..)`), named
    /// `views`, `events` and `<views>_positions`. The names are SQL identifiers chosen by code,
    /// never by input.
    pub fn named(views: &str, events: &str) -> Self {
        let positions = format!("{views}_positions");
        ViewTables {
            views: views.to_owned(),
            events: events.to_owned(),
            position: format!(
                "SELECT next_offset FROM {positions} WHERE topic = $1 AND kafka_partition = $2
                 FOR UPDATE"
            ),
            advance: format!(
                "INSERT INTO {positions} (topic, kafka_partition, next_offset) VALUES ($1, $2, $3)
                 ON CONFLICT (topic, kafka_partition)
                 DO UPDATE SET next_offset = GREATEST({positions}.next_offset, EXCLUDED.next_offset)"
            ),
            positions,
            // Create the view on the first event of any kind, then lock it: projector instances
            // consuming different topics may apply events of one order at the same time.
            create: format!(
                "INSERT INTO {views} (order_id, status, version) VALUES ($1, 'PENDING', 0)
                 ON CONFLICT (order_id) DO NOTHING"
            ),
            select: format!(
                "SELECT cancellation_reason, payment_id, payment_status, payment_amount,
                        decline_reason, shipment_id, shipment_status, version
                 FROM {views} WHERE order_id = $1 FOR UPDATE"
            ),
            update: format!(
                "UPDATE {views} SET status = $2, cancellation_reason = $3, payment_id = $4,
                        payment_status = $5, payment_amount = $6, decline_reason = $7,
                        shipment_id = $8, shipment_status = $9, version = $10, updated_at = now()
                 WHERE order_id = $1"
            ),
            record: format!(
                "INSERT INTO {events} (order_id, event_id, event_type, topic,
                        kafka_partition, kafka_offset, occurred_at, trace_id)
                 VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::float8 / 1000), $8)"
            ),
        }
    }
}

pub struct Projector {
    tables: ViewTables,
}

impl Projector {
    pub fn new(tables: ViewTables) -> Self {
        Projector { tables }
    }

    pub fn tables(&self) -> &ViewTables {
        &self.tables
    }

    /// Applies `event` to its order's view in `tables`, within `tx`, unless the tables'
    /// position is already past it (`Ok(false)`). Whether the same event was applied before
    /// at another offset is the caller's to know (the consumer's inbox, a rebuild's check).
    pub async fn apply(
        &self,
        tx: &Transaction<'_>,
        event: &InboundEvent,
    ) -> Result<bool, tokio_postgres::Error> {
        let position = tx.prepare_cached(&self.tables.position).await?;
        let at = tx
            .query_opt(&position, &[&event.topic, &event.partition])
            .await?;
        if at.is_some_and(|row| event.offset < row.get::<_, i64>(0)) {
            return Ok(false);
        }
        self.advance(tx, &event.topic, event.partition, event.offset + 1)
            .await?;
        let header = event.event.header();
        let create = tx.prepare_cached(&self.tables.create).await?;
        tx.execute(&create, &[&header.order_id]).await?;
        let select = tx.prepare_cached(&self.tables.select).await?;
        let row = tx.query_one(&select, &[&header.order_id]).await?;
        let mut facts = Facts {
            cancellation_reason: row.get(0),
            payment_id: row.get(1),
            payment_status: row.get(2),
            payment_amount: row.get(3),
            decline_reason: row.get(4),
            shipment_id: row.get(5),
            shipment_status: row.get(6),
            version: row.get(7),
        };
        facts.apply(&event.event);
        let update = tx.prepare_cached(&self.tables.update).await?;
        tx.execute(
            &update,
            &[
                &header.order_id,
                &facts.status().as_str(),
                &facts.cancellation_reason,
                &facts.payment_id,
                &facts.payment_status,
                &facts.payment_amount,
                &facts.decline_reason,
                &facts.shipment_id,
                &facts.shipment_status,
                &facts.version,
            ],
        )
        .await?;
        let record = tx.prepare_cached(&self.tables.record).await?;
        let trace_id = event
            .traceparent
            .as_deref()
            .and_then(telemetry::trace_id)
            .map(str::to_owned);
        tx.execute(
            &record,
            &[
                &header.order_id,
                &header.event_id,
                &event.event.event_type().full_name(),
                &event.topic,
                &event.partition,
                &event.offset,
                &(header.occurred_at as f64),
                &trace_id,
            ],
        )
        .await?;
        Ok(true)
    }

    /// Moves the tables' position in `partition` of `topic` to `next_offset`, never back.
    pub async fn advance(
        &self,
        tx: &Transaction<'_>,
        topic: &str,
        partition: i32,
        next_offset: i64,
    ) -> Result<(), tokio_postgres::Error> {
        let advance = tx.prepare_cached(&self.tables.advance).await?;
        tx.execute(&advance, &[&topic, &partition, &next_offset])
            .await?;
        Ok(())
    }
}

impl Handler for Projector {
    async fn handle(&self, tx: &Transaction<'_>, event: &InboundEvent) -> Result<(), HandlerError> {
        self.apply(tx, event).await?;
        Ok(())
    }
}
