//! The order side of the saga: an order is cancelled for good when its payment was declined or
//! when shipping accepted the customer's cancellation.

use platform::{
    consumer::{Handler, HandlerError, InboundEvent},
    outbox::{self, Transaction},
};
use schemas::{DomainEvent, EventHeader, OrderCancelled};
use uuid::Uuid;

pub struct Saga;

impl Handler for Saga {
    async fn handle(&self, tx: &Transaction<'_>, event: &InboundEvent) -> Result<(), HandlerError> {
        match &event.event {
            DomainEvent::PaymentDeclined(e) => {
                cancel(tx, e.header.order_id, "PAYMENT_DECLINED").await
            }
            DomainEvent::CancellationAccepted(e) => {
                cancel(tx, e.header.order_id, "CUSTOMER_REQUEST").await
            }
            _ => Ok(()),
        }
    }
}

/// Marks the order cancelled and announces it, once.
async fn cancel(tx: &Transaction<'_>, order_id: Uuid, reason: &str) -> Result<(), HandlerError> {
    let statement = tx
        .prepare_cached(
            "WITH target AS (SELECT order_id, cancelled FROM orders WHERE order_id = $1 FOR UPDATE)
             UPDATE orders o SET cancelled = true FROM target
             WHERE o.order_id = target.order_id
             RETURNING target.cancelled",
        )
        .await?;
    let Some(row) = tx.query_opt(&statement, &[&order_id]).await? else {
        return Err(HandlerError::Rejected(format!(
            "order {order_id} is unknown to order-service"
        )));
    };
    let already_cancelled: bool = row.get(0);
    if !already_cancelled {
        let cancelled = OrderCancelled {
            header: EventHeader::new(order_id),
            reason: reason.to_owned(),
        };
        outbox::enqueue(tx, &cancelled.into()).await?;
    }
    Ok(())
}
