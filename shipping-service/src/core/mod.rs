//! Shipment state changes, shared by the Kafka consumer and the warehouse endpoints. Every
//! change locks the order's `shipping_orders` row first, so a cancellation and a dispatch of
//! the same order never interleave: one of them sees the other's result.

pub mod query;
pub mod warehouse;

use platform::{
    db::DbError,
    outbox::{self, OutboxError, Transaction},
};
use schemas::{EventHeader, ShipmentCancelled, ShipmentStatus};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum ShippingError {
    #[error("shipment not found")]
    NotFound,
    #[error("the shipment is {0}")]
    WrongState(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

impl From<platform::db::PoolError> for ShippingError {
    fn from(e: platform::db::PoolError) -> Self {
        ShippingError::Db(e.into())
    }
}

impl From<tokio_postgres::Error> for ShippingError {
    fn from(e: tokio_postgres::Error) -> Self {
        ShippingError::Db(e.into())
    }
}

/// What shipping knows of an order, locked for the rest of the transaction.
pub struct OrderLock {
    pub cancelled: bool,
    pub shipment: Option<(Uuid, ShipmentStatus)>,
}

/// Locks (creating if needed) the order's row, then reads its shipment.
///
/// Two statements on purpose. Under READ COMMITTED a `SELECT ... FOR UPDATE` that waited for
/// the lock re-reads only the locked row once the holder commits; a shipment joined in the same
/// statement would still be the one from before the wait. So a dispatch that waited for a
/// cancellation (or the reverse) would act on a `SCHEDULED` shipment that is no longer
/// scheduled, and both would succeed: the mix the lock exists to prevent. Read after the lock,
/// the shipment is what the previous holder committed.
pub async fn lock_order(
    tx: &Transaction<'_>,
    order_id: Uuid,
) -> Result<OrderLock, tokio_postgres::Error> {
    let upsert = tx
        .prepare_cached(
            "INSERT INTO shipping_orders (order_id) VALUES ($1) ON CONFLICT (order_id) DO NOTHING",
        )
        .await?;
    tx.execute(&upsert, &[&order_id]).await?;
    let lock = tx
        .prepare_cached("SELECT cancelled FROM shipping_orders WHERE order_id = $1 FOR UPDATE")
        .await?;
    let cancelled: bool = tx.query_one(&lock, &[&order_id]).await?.get(0);
    let select = tx
        .prepare_cached("SELECT shipment_id, status FROM shipments WHERE order_id = $1")
        .await?;
    let shipment = tx
        .query_opt(&select, &[&order_id])
        .await?
        .map(|row| (row.get(0), row.get(1)));
    Ok(OrderLock {
        cancelled,
        shipment,
    })
}

/// Marks the order cancelled and cancels its shipment if it has not left. Returns the
/// cancelled shipment, if any. The caller holds the order lock.
pub async fn cancel_order(
    tx: &Transaction<'_>,
    order_id: Uuid,
    lock: &OrderLock,
) -> Result<Option<Uuid>, ShippingError> {
    tx.execute(
        "UPDATE shipping_orders SET cancelled = true WHERE order_id = $1",
        &[&order_id],
    )
    .await?;
    let Some((shipment_id, status)) = &lock.shipment else {
        return Ok(None);
    };
    if *status != ShipmentStatus::Scheduled {
        return Ok(None);
    }
    tx.execute(
        "UPDATE shipments SET status = 'CANCELLED', updated_at = now() WHERE shipment_id = $1",
        &[shipment_id],
    )
    .await?;
    let event = ShipmentCancelled {
        header: EventHeader::new(order_id),
        shipment_id: *shipment_id,
    };
    outbox::enqueue(tx, &event.into()).await?;
    Ok(Some(*shipment_id))
}
