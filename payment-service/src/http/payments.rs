//! `GET /payments/{id}` and `GET /payments?order_id=`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use platform::db::Pool;
use platform::http::{self, Problem};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct Payment {
    payment_id: Uuid,
    order_id: Uuid,
    status: String,
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

/// What can go wrong reading payments.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("database unavailable")]
    Pool(#[from] platform::db::PoolError),
    #[error("database query failed")]
    Query(#[from] tokio_postgres::Error),
}

/// The one place payment-service's read failures become HTTP answers.
impl From<ReadError> for Problem {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Pool(_) => Problem::database(&e, true),
            ReadError::Query(ref q) => Problem::database(&e, platform::db::is_transient(q)),
        }
    }
}

async fn find(pool: &Pool, payment_id: Uuid) -> Result<Option<Payment>, ReadError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM payments WHERE payment_id = $1"),
            &[&payment_id],
        )
        .await?;
    Ok(row.as_ref().map(payment))
}

async fn of_order(pool: &Pool, order_id: Uuid) -> Result<Vec<Payment>, ReadError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!("SELECT {COLUMNS} FROM payments WHERE order_id = $1"),
            &[&order_id],
        )
        .await?;
    Ok(rows.iter().map(payment).collect())
}

pub async fn get(pool: web::Data<Pool>, id: web::Path<String>) -> Result<HttpResponse, Problem> {
    let payment_id = http::path_uuid(&id, "payment id")?;
    let payment = find(&pool, payment_id)
        .await?
        .ok_or_else(|| Problem::not_found("no payment with this id"))?;
    Ok(HttpResponse::Ok().json(payment))
}

#[derive(Deserialize)]
pub struct ByOrder {
    order_id: Option<String>,
}

/// The payments of one order (at most one), as a list.
pub async fn by_order(
    pool: web::Data<Pool>,
    query: web::Query<ByOrder>,
) -> Result<HttpResponse, Problem> {
    let order_id = http::required_uuid(query.order_id.as_deref(), "order_id")?;
    Ok(HttpResponse::Ok().json(of_order(&pool, order_id).await?))
}
