//! Placing an order: the order row and its `OrderPlaced` in one transaction.

use super::OrderError;
use crate::domain::new_order::NewOrder;
use platform::db::Pool;
use platform::http::FieldError;
use platform::outbox;
use schemas::{EventHeader, OrderItem, OrderPlaced};
use uuid::Uuid;

/// An idempotency key as a client sent it (REST's `Idempotency-Key` header, gRPC's
/// `idempotency-key` metadata; `field` names it in the error): 1-255 visible ASCII characters.
pub fn idempotency_key<'a>(
    raw: Option<&'a [u8]>,
    field: &str,
) -> Result<Option<&'a str>, FieldError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    std::str::from_utf8(raw)
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(Some)
        .ok_or_else(|| FieldError::new(field, "must be 1-255 visible ASCII characters"))
}

/// An order and its first view, in one statement: `$1` order id, `$2` customer, `$3` currency,
/// `$4` items, `$5` total in cents, `$6` idempotency key, `$7` the request as received.
/// Returns the order id, or no row where the idempotency key was used before. The view starts
/// with the order (PENDING, version 0: what the projector would create), so the lists by status
/// find the order in the views alone. Public for the API bench's raw baseline, which writes
/// orders as this does.
pub const INSERT_ORDER: &str = "WITH placed AS (
         INSERT INTO orders (order_id, customer_id, currency, items, total_cents,
                             idempotency_key, request)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (idempotency_key) DO NOTHING
         RETURNING order_id, created_at
     ), placed_view AS (
         INSERT INTO order_views (order_id, status, version, order_created_at, updated_at)
         SELECT order_id, 'PENDING', 0, created_at, created_at FROM placed
     )
     SELECT order_id FROM placed";

/// Places `order`, or returns the order an earlier request with the same idempotency key
/// placed. Needs only the database.
pub async fn place_order(
    pool: &Pool,
    order: &NewOrder,
    idempotency_key: Option<&str>,
) -> Result<Uuid, OrderError> {
    let request = serde_json::to_value(order).expect("an order serializes");
    let items = serde_json::to_value(&order.items).expect("items serialize");
    let total_cents = order.total_cents();
    let order_id = Uuid::now_v7();

    let mut client = pool.get().await?;
    let tx = outbox::Transaction::begin(&mut client).await?;
    let insert = tx.prepare_cached(INSERT_ORDER).await?;
    let inserted = tx
        .query_opt(
            &insert,
            &[
                &order_id,
                &order.customer_id.as_str(),
                &order.currency.as_str(),
                &items,
                &total_cents,
                &idempotency_key,
                &request,
            ],
        )
        .await?;
    if inserted.is_none() {
        // The key was used before (a concurrent first use has committed by now: the insert
        // waited for it). Same request: the same order. Another request: refuse.
        let existing = tx
            .query_one(
                "SELECT order_id, request FROM orders WHERE idempotency_key = $1",
                &[&idempotency_key],
            )
            .await?;
        let previous: serde_json::Value = existing.get(1);
        return if previous == request {
            Ok(existing.get(0))
        } else {
            Err(OrderError::IdempotencyKeyReused)
        };
    }

    let placed = OrderPlaced {
        header: EventHeader::new(order_id),
        customer_id: order.customer_id.as_str().to_owned(),
        currency: order.currency.as_str().to_owned(),
        items: order
            .items
            .iter()
            .map(|i| OrderItem {
                sku: i.sku.as_str().to_owned(),
                quantity: i.quantity.get(),
                unit_price_cents: i.unit_price_cents.get(),
            })
            .collect(),
        total_cents,
        sales_channel: "api".into(),
    };
    outbox::enqueue(&tx, &placed.into()).await?;
    outbox::commit(tx).await?;
    tracing::info!(%order_id, total_cents, "order placed");
    Ok(order_id)
}
