//! Shipment views and warehouse actions.

use crate::core::{
    query::{find, of_order, Shipment},
    warehouse::{self, Action},
    ShippingError,
};
use actix_web::{get, post, web, HttpResponse};
use platform::{
    db::Pool,
    http::{self, validate::OrderQuery, Problem},
};
use uuid::Uuid;

/// The one place shipping errors become HTTP answers.
impl From<ShippingError> for Problem {
    fn from(e: ShippingError) -> Self {
        match e {
            ShippingError::NotFound => Problem::not_found("no shipment with this id"),
            ShippingError::WrongState(_) => Problem::conflict(e.to_string()),
            ShippingError::Db(db) => db.into(),
            ShippingError::Outbox(outbox) => outbox.into(),
        }
    }
}

fn parse_id(raw: &str) -> Result<Uuid, Problem> {
    http::path_uuid(raw, "shipment id")
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
) -> Result<web::Json<Vec<Shipment>>, Problem> {
    let order_id = query.into_inner().order_id()?;
    Ok(web::Json(of_order(&pool, order_id).await?))
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
