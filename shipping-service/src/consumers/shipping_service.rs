//! Shipping reacts to payments and orders: schedule a paid order's shipment, decide on a
//! customer's cancellation, cancel what has not left when an order is cancelled.

use crate::core::{cancel_order, lock_order, ShippingError};
use platform::{
    consumer::{Handler, HandlerError, InboundEvent},
    outbox::{self, Transaction},
};
use schemas::{
    CancellationAccepted, CancellationRejected, DomainEvent, EventHeader, ShipmentScheduled,
    ShipmentStatus,
};
use uuid::Uuid;

pub struct Shipping;

impl Handler for Shipping {
    async fn handle(&self, tx: &Transaction<'_>, event: &InboundEvent) -> Result<(), HandlerError> {
        let order_id = event.event.header().order_id;
        let result = match &event.event {
            DomainEvent::PaymentAuthorized(_) => schedule(tx, order_id).await,
            DomainEvent::OrderCancellationRequested(_) => decide_cancellation(tx, order_id).await,
            DomainEvent::OrderCancelled(_) => {
                let lock = lock_order(tx, order_id).await?;
                cancel_order(tx, order_id, &lock).await.map(|_| ())
            }
            _ => Ok(()),
        };
        result.map_err(|e| match e {
            ShippingError::Outbox(e) => e.into(),
            ShippingError::Db(e) => e.into(),
            // The event asks for what this shipment's state can never allow: a retry would fail
            // the same way.
            rule @ (ShippingError::NotFound | ShippingError::WrongState(_)) => {
                HandlerError::Rejected(rule.to_string())
            }
        })
    }
}

/// A paid order gets a shipment, unless it was cancelled first.
async fn schedule(tx: &Transaction<'_>, order_id: Uuid) -> Result<(), ShippingError> {
    let lock = lock_order(tx, order_id).await?;
    if lock.cancelled || lock.shipment.is_some() {
        return Ok(());
    }
    let shipment_id = Uuid::now_v7();
    let insert = tx
        .prepare_cached(
            "INSERT INTO shipments (shipment_id, order_id, status) VALUES ($1, $2, 'SCHEDULED')",
        )
        .await?;
    tx.execute(&insert, &[&shipment_id, &order_id]).await?;
    let event = ShipmentScheduled {
        header: EventHeader::new(order_id),
        shipment_id,
    };
    outbox::enqueue(tx, &event.into()).await?;
    tracing::info!(%order_id, %shipment_id, "shipment scheduled");
    Ok(())
}

/// Shipping alone knows whether the parcel left: accept the cancellation (and cancel what was
/// scheduled) or reject it.
async fn decide_cancellation(tx: &Transaction<'_>, order_id: Uuid) -> Result<(), ShippingError> {
    let lock = lock_order(tx, order_id).await?;
    let header = EventHeader::new(order_id);
    if let Some((shipment_id, status)) = &lock.shipment {
        if matches!(
            status,
            ShipmentStatus::Dispatched | ShipmentStatus::Delivered
        ) {
            let rejected = CancellationRejected {
                header,
                shipment_id: *shipment_id,
                reason: format!("shipment already {}", status.as_str().to_lowercase()),
            };
            outbox::enqueue(tx, &rejected.into()).await?;
            tracing::info!(%order_id, "cancellation rejected");
            return Ok(());
        }
    }
    let cancelled_shipment = cancel_order(tx, order_id, &lock).await?;
    let accepted = CancellationAccepted {
        header,
        shipment_id: cancelled_shipment,
    };
    outbox::enqueue(tx, &accepted.into()).await?;
    tracing::info!(%order_id, "cancellation accepted");
    Ok(())
}
