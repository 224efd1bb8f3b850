//! `POST /orders` and `GET /orders`.

use super::AppState;
use crate::{
    core::{place, query},
    domain::new_order::{NewOrder, NewOrderRequest},
};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use platform::http::Problem;
use serde::Deserialize;

#[tracing::instrument(skip_all, fields(order_id = tracing::field::Empty))]
pub async fn place(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<NewOrderRequest>,
) -> Result<HttpResponse, Problem> {
    let key = idempotency_key(&request)?;
    let order = NewOrder::try_from(body.into_inner()).map_err(Problem::validation)?;
    let order_id = place::place_order(&state.pool, &order, key).await?;
    tracing::Span::current().record("order_id", tracing::field::display(order_id));
    let view = query::find_order(&state.pool, order_id).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, format!("/orders/{order_id}")))
        .insert_header((header::ETAG, format!("\"{}\"", view.version)))
        .json(view))
}

/// The optional `Idempotency-Key`.
fn idempotency_key(request: &HttpRequest) -> Result<Option<&str>, Problem> {
    let raw = request
        .headers()
        .get("Idempotency-Key")
        .map(|v| v.as_bytes());
    place::idempotency_key(raw, "Idempotency-Key").map_err(|e| Problem::validation(vec![e]))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    customer_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let query = query.into_inner();
    let filter = query::ListFilter::parse(
        query.customer_id,
        query.status.as_deref(),
        query.limit,
        query.cursor.as_deref(),
    )
    .map_err(Problem::validation)?;
    Ok(HttpResponse::Ok().json(query::list_orders(&state.pool, &filter).await?))
}
