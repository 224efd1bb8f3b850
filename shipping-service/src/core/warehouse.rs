//! Warehouse actions: dispatch a scheduled shipment, deliver a dispatched one.

use super::{lock_order, ShippingError};
use platform::{db::Pool, outbox};
use schemas::{DomainEvent, EventHeader, ShipmentDelivered, ShipmentDispatched, ShipmentStatus};
use uuid::Uuid;

#[derive(Clone, Copy, Debug)]
pub enum Action {
    Dispatch,
    Deliver,
}

impl Action {
    fn transition(self) -> (ShipmentStatus, ShipmentStatus) {
        match self {
            Action::Dispatch => (ShipmentStatus::Scheduled, ShipmentStatus::Dispatched),
            Action::Deliver => (ShipmentStatus::Dispatched, ShipmentStatus::Delivered),
        }
    }
}

/// Moves the shipment one step, or fails with its current state (a 409 for the API).
pub async fn advance(pool: &Pool, shipment_id: Uuid, action: Action) -> Result<(), ShippingError> {
    let (from, to) = action.transition();
    let mut client = pool.get().await?;
    let tx = outbox::Transaction::begin(&mut client).await?;
    let order_id: Uuid = tx
        .query_opt(
            "SELECT order_id FROM shipments WHERE shipment_id = $1",
            &[&shipment_id],
        )
        .await?
        .ok_or(ShippingError::NotFound)?
        .get(0);
    // The order lock first, as the cancellation handler takes it: whichever comes second sees
    // the first one's outcome.
    let lock = lock_order(&tx, order_id).await?;
    match lock.shipment.map(|(_, s)| s) {
        Some(status) if status == from => {}
        Some(other) => return Err(ShippingError::WrongState(other.as_str().to_owned())),
        None => return Err(ShippingError::NotFound),
    }
    tx.execute(
        "UPDATE shipments SET status = $2, updated_at = now() WHERE shipment_id = $1",
        &[&shipment_id, &to.as_str()],
    )
    .await?;
    let header = EventHeader::new(order_id);
    let event: DomainEvent = match action {
        Action::Dispatch => ShipmentDispatched {
            header,
            shipment_id,
        }
        .into(),
        Action::Deliver => ShipmentDelivered {
            header,
            shipment_id,
        }
        .into(),
    };
    outbox::enqueue(&tx, &event).await?;
    outbox::commit(tx).await?;
    tracing::info!(%order_id, %shipment_id, status = to.as_str(), "shipment advanced");
    Ok(())
}
