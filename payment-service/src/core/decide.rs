//! A payment's decisions: one per order, authorized or declined when the order is placed,
//! refunded when it is cancelled. Each writes the payment and its event in the caller's
//! transaction.

use super::PaymentError;
use platform::outbox::{self, Transaction};
use schemas::{
    DomainEvent, EventHeader, OrderCancelled, OrderPlaced, PaymentAuthorized, PaymentDeclined,
    PaymentRefunded, PaymentStatus,
};
use uuid::Uuid;

/// Exactly one payment per order: authorized up to `limit_cents`, declined above it.
pub async fn charge(
    tx: &Transaction<'_>,
    placed: &OrderPlaced,
    limit_cents: i64,
) -> Result<(), PaymentError> {
    let order_id = placed.header.order_id;
    let payment_id = Uuid::now_v7();
    let declined = placed.total_cents > limit_cents;
    let (status, reason) = if declined {
        (PaymentStatus::Declined, Some("LIMIT_EXCEEDED"))
    } else {
        (PaymentStatus::Authorized, None)
    };
    let insert = tx
        .prepare_cached(
            "INSERT INTO payments (payment_id, order_id, status, amount_cents, currency, decline_reason)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (order_id) DO NOTHING",
        )
        .await?;
    let inserted = tx
        .execute(
            &insert,
            &[
                &payment_id,
                &order_id,
                &status.as_str(),
                &placed.total_cents,
                &placed.currency,
                &reason,
            ],
        )
        .await?;
    if inserted == 0 {
        // A second OrderPlaced for the same order (not a redelivery: those the inbox
        // catches) changes nothing.
        return Ok(());
    }
    let header = EventHeader::new(order_id);
    let event: DomainEvent = if declined {
        PaymentDeclined {
            header,
            payment_id,
            amount_cents: placed.total_cents,
            currency: placed.currency.clone(),
            reason: "LIMIT_EXCEEDED".into(),
        }
        .into()
    } else {
        PaymentAuthorized {
            header,
            payment_id,
            amount_cents: placed.total_cents,
            currency: placed.currency.clone(),
        }
        .into()
    };
    outbox::enqueue(tx, &event).await?;
    tracing::info!(%order_id, %payment_id, status = status.as_str(), "payment decided");
    Ok(())
}

/// Refunds an authorized payment of a cancelled order; anything else stays as it is.
pub async fn refund(tx: &Transaction<'_>, cancelled: &OrderCancelled) -> Result<(), PaymentError> {
    let order_id = cancelled.header.order_id;
    let update = tx
        .prepare_cached(
            "UPDATE payments SET status = 'REFUNDED', updated_at = now()
             WHERE order_id = $1 AND status = 'AUTHORIZED'
             RETURNING payment_id, amount_cents, currency",
        )
        .await?;
    if let Some(row) = tx.query_opt(&update, &[&order_id]).await? {
        let refunded = PaymentRefunded {
            header: EventHeader::new(order_id),
            payment_id: row.get(0),
            amount_cents: row.get(1),
            currency: row.get(2),
        };
        outbox::enqueue(tx, &refunded.into()).await?;
        tracing::info!(%order_id, "payment refunded");
    }
    Ok(())
}
