//! `GET /payments/{id}` and `GET /payments?order_id=`.

use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use platform::db::Pool;
use platform::http::{self, validate::OrderQuery, Problem};
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
        status: PaymentStatus::parse(row.get(2))
            .expect("the status column holds the statuses this service writes"),
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

/// One payment.
#[utoipa::path(
    tag = "payments",
    params(("payment_id" = Uuid, Path, description = "The payment's id")),
    responses(
        (status = OK, description = "The payment", body = Payment),
        (status = NOT_FOUND, description = "No payment with this id"),
    )
)]
#[get("/payments/{payment_id}")]
pub async fn get(pool: web::Data<Pool>, id: web::Path<String>) -> Result<HttpResponse, Problem> {
    let payment_id = http::path_uuid(&id, "payment id")?;
    let payment = find(&pool, payment_id)
        .await?
        .ok_or_else(|| Problem::not_found("no payment with this id"))?;
    Ok(HttpResponse::Ok().json(payment))
}

/// The payments of one order (at most one), as a list.
#[utoipa::path(
    tag = "payments",
    params(OrderQuery),
    responses(
        (status = OK, description = "The order's payments", body = Vec<Payment>),
        (status = UNPROCESSABLE_ENTITY, description = "`order_id` is missing or no UUID"),
    )
)]
#[get("/payments")]
pub async fn by_order(
    pool: web::Data<Pool>,
    query: web::Query<OrderQuery>,
) -> Result<HttpResponse, Problem> {
    let order_id = query.into_inner().order_id()?;
    Ok(HttpResponse::Ok().json(of_order(&pool, order_id).await?))
}
