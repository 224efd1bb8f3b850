//! The order status projection: applies every event of an order to its view.

use crate::domain::status::Facts;
use platform::{
    consumer::{Handler, HandlerError, InboundEvent},
    db::Transaction,
    telemetry,
};

pub const GROUP: &str = "order-status-projector";

pub struct Projector;

impl Handler for Projector {
    async fn handle(&self, tx: &Transaction<'_>, event: &InboundEvent) -> Result<(), HandlerError> {
        let header = event.event.header();
        // Create the view on the first event of any kind, then lock it: projector instances
        // consuming different topics may apply events of one order at the same time.
        let create = tx
            .prepare_cached(
                "INSERT INTO order_views (order_id, status, version) VALUES ($1, 'PENDING', 0)
                 ON CONFLICT (order_id) DO NOTHING",
            )
            .await?;
        tx.execute(&create, &[&header.order_id]).await?;
        let select = tx
            .prepare_cached(
                "SELECT cancellation_reason, payment_id, payment_status, payment_amount,
                        decline_reason, shipment_id, shipment_status, version
                 FROM order_views WHERE order_id = $1 FOR UPDATE",
            )
            .await?;
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
        let update = tx
            .prepare_cached(
                "UPDATE order_views SET status = $2, cancellation_reason = $3, payment_id = $4,
                        payment_status = $5, payment_amount = $6, decline_reason = $7,
                        shipment_id = $8, shipment_status = $9, version = $10, updated_at = now()
                 WHERE order_id = $1",
            )
            .await?;
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
        let record = tx
            .prepare_cached(
                "INSERT INTO order_view_events (order_id, event_id, event_type, topic,
                        kafka_partition, kafka_offset, occurred_at, trace_id)
                 VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7::float8 / 1000), $8)",
            )
            .await?;
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
        Ok(())
    }
}
