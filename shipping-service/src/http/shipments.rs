//! Shipment views and warehouse actions.

use crate::core::{
    warehouse::{self, Action},
    ShippingError,
};
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use platform::{
    db::Pool,
    http::{self, validate::OrderQuery, Problem},
    outbox::OutboxError,
};
use schemas::ShipmentStatus;
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

/// A shipment as clients see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Shipment {
    shipment_id: Uuid,
    order_id: Uuid,
    status: ShipmentStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "shipment_id, order_id, status, created_at, updated_at";

fn shipment(row: &Row) -> Shipment {
    Shipment {
        shipment_id: row.get(0),
        order_id: row.get(1),
        status: ShipmentStatus::parse(row.get(2))
            .expect("the status column holds the statuses this service writes"),
        created_at: row.get(3),
        updated_at: row.get(4),
    }
}

/// The one place shipping errors become HTTP answers.
impl From<ShippingError> for Problem {
    fn from(e: ShippingError) -> Self {
        match e {
            ShippingError::NotFound => Problem::not_found("no shipment with this id"),
            ShippingError::WrongState(_) => Problem::conflict(e.to_string()),
            ShippingError::Pool(_) => Problem::database(&e, true),
            ShippingError::Query(ref q) | ShippingError::Outbox(OutboxError::Write(ref q)) => {
                Problem::database(&e, platform::db::is_transient(q))
            }
            other => Problem::internal(&other),
        }
    }
}

fn parse_id(raw: &str) -> Result<Uuid, Problem> {
    http::path_uuid(raw, "shipment id")
}

async fn find(pool: &Pool, shipment_id: Uuid) -> Result<Shipment, ShippingError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM shipments WHERE shipment_id = $1"),
            &[&shipment_id],
        )
        .await?
        .ok_or(ShippingError::NotFound)?;
    Ok(shipment(&row))
}

/// One shipment.
#[utoipa::path(
    tag = "shipments",
    params(("shipment_id" = Uuid, Path, description = "The shipment's id")),
    responses(
        (status = OK, description = "The shipment", body = Shipment),
        (status = NOT_FOUND, description = "No shipment with this id"),
    )
)]
#[get("/shipments/{shipment_id}")]
pub async fn get(pool: web::Data<Pool>, id: web::Path<String>) -> Result<HttpResponse, Problem> {
    let shipment_id = parse_id(&id)?;
    Ok(HttpResponse::Ok().json(find(&pool, shipment_id).await?))
}

/// The shipments of one order (at most one), as a list.
#[utoipa::path(
    tag = "shipments",
    params(OrderQuery),
    responses(
        (status = OK, description = "The order's shipments", body = Vec<Shipment>),
        (status = UNPROCESSABLE_ENTITY, description = "`order_id` is missing or no UUID"),
    )
)]
#[get("/shipments")]
pub async fn by_order(
    pool: web::Data<Pool>,
    query: web::Query<OrderQuery>,
) -> Result<HttpResponse, Problem> {
    let order_id = query.into_inner().order_id()?;
    let client = pool.get().await.map_err(ShippingError::from)?;
    let rows = client
        .query(
            &format!("SELECT {COLUMNS} FROM shipments WHERE order_id = $1"),
            &[&order_id],
        )
        .await
        .map_err(ShippingError::from)?;
    Ok(HttpResponse::Ok().json(rows.iter().map(shipment).collect::<Vec<_>>()))
}

async fn act(pool: &Pool, raw: &str, action: Action) -> Result<HttpResponse, Problem> {
    let shipment_id = parse_id(raw)?;
    warehouse::advance(pool, shipment_id, action).await?;
    Ok(HttpResponse::Accepted().json(find(pool, shipment_id).await?))
}

/// Dispatches a scheduled shipment.
#[utoipa::path(
    tag = "shipments",
    params(("shipment_id" = Uuid, Path, description = "The shipment's id")),
    responses(
        (status = ACCEPTED, description = "Dispatched", body = Shipment),
        (status = NOT_FOUND, description = "No shipment with this id"),
        (status = CONFLICT, description = "The shipment is not SCHEDULED"),
    )
)]
#[post("/shipments/{shipment_id}/dispatch")]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
pub async fn dispatch(
    pool: web::Data<Pool>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    act(&pool, &id, Action::Dispatch).await
}

/// Delivers a dispatched shipment.
#[utoipa::path(
    tag = "shipments",
    params(("shipment_id" = Uuid, Path, description = "The shipment's id")),
    responses(
        (status = ACCEPTED, description = "Delivered", body = Shipment),
        (status = NOT_FOUND, description = "No shipment with this id"),
        (status = CONFLICT, description = "The shipment is not DISPATCHED"),
    )
)]
#[post("/shipments/{shipment_id}/deliver")]
#[tracing::instrument(skip_all, fields(shipment_id = %id))]
pub async fn deliver(
    pool: web::Data<Pool>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    act(&pool, &id, Action::Deliver).await
}
