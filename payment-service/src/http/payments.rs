//! `GET /payments/{id}` and `GET /payments?order_id=`.

use crate::core::query::{find, of_order, Payment};
use actix_web::{get, web, HttpResponse};
use platform::db::Pool;
use platform::http::{self, validate::OrderQuery, Problem};

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
) -> Result<web::Json<Vec<Payment>>, Problem> {
    let order_id = query.into_inner().order_id()?;
    Ok(web::Json(of_order(&pool, order_id).await?))
}
