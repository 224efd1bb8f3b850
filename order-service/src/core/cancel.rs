//! A customer's cancellation request. The order asks; shipping decides (it alone knows whether
//! the parcel left), and the order is cancelled for good when shipping accepts.

use super::OrderError;
use crate::domain::status::OrderStatus;
use platform::db::Pool;
use platform::outbox;
use schemas::{EventHeader, OrderCancellationRequested};
use uuid::Uuid;

/// What the request achieved.
#[derive(Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The order was already cancelled.
    AlreadyCancelled,
    /// The request is (now or already) on its way to shipping.
    Requested,
}

pub async fn request_cancellation(
    pool: &Pool,
    order_id: Uuid,
) -> Result<CancelOutcome, OrderError> {
    let mut client = pool.get().await?;
    let tx = outbox::Transaction::begin(&mut client).await?;
    let row = tx
        .query_opt(
            "SELECT o.cancelled, o.cancellation_requested, v.status
             FROM orders o LEFT JOIN order_views v USING (order_id)
             WHERE o.order_id = $1 FOR UPDATE OF o",
            &[&order_id],
        )
        .await?
        .ok_or(OrderError::NotFound)?;
    let (cancelled, requested): (bool, bool) = (row.get(0), row.get(1));
    let status: Option<OrderStatus> = row.get(2);
    if cancelled || status == Some(OrderStatus::Cancelled) {
        return Ok(CancelOutcome::AlreadyCancelled);
    }
    if matches!(status, Some(OrderStatus::Shipped | OrderStatus::Delivered)) {
        return Err(OrderError::AlreadyShipped);
    }
    if !requested {
        tx.execute(
            "UPDATE orders SET cancellation_requested = true WHERE order_id = $1",
            &[&order_id],
        )
        .await?;
        let event = OrderCancellationRequested {
            header: EventHeader::new(order_id),
            reason: "CUSTOMER_REQUEST".into(),
        };
        outbox::enqueue(&tx, &event.into()).await?;
        outbox::commit(tx).await?;
        tracing::info!(%order_id, "cancellation requested");
    }
    Ok(CancelOutcome::Requested)
}
