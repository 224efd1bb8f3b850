//! Payments as clients see them.

use super::PaymentError;
use chrono::{DateTime, Utc};
use platform::db::Pool;
use schemas::PaymentStatus;
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

/// A payment as clients see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Payment {
    payment_id: Uuid,
    order_id: Uuid,
    status: PaymentStatus,
    amount_cents: i64,
    currency: String,
    decline_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "payment_id, order_id, status, amount_cents, currency, decline_reason, created_at, updated_at";

fn payment(row: &Row) -> Payment {
    Payment {
        payment_id: row.get(0),
        order_id: row.get(1),
        status: row.get(2),
        amount_cents: row.get(3),
        currency: row.get(4),
        decline_reason: row.get(5),
        created_at: row.get(6),
        updated_at: row.get(7),
    }
}

/// The payment `payment_id`, if there is one.
pub async fn find(pool: &Pool, payment_id: Uuid) -> Result<Option<Payment>, PaymentError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM payments WHERE payment_id = $1"),
            &[&payment_id],
        )
        .await?;
    Ok(row.as_ref().map(payment))
}

/// The payments of `order_id` (at most one).
pub async fn of_order(pool: &Pool, order_id: Uuid) -> Result<Vec<Payment>, PaymentError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!("SELECT {COLUMNS} FROM payments WHERE order_id = $1"),
            &[&order_id],
        )
        .await?;
    Ok(rows.iter().map(payment).collect())
}
