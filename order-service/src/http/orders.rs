//! `POST /orders` and `GET /orders`.

use super::AppState;
use crate::{
    core::{place, query},
    domain::{
        new_order::{NewOrder, NewOrderRequest},
        status::OrderStatus,
    },
};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use platform::http::{FieldError, Problem};
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

/// The optional `Idempotency-Key`: 1-255 visible ASCII characters.
fn idempotency_key(request: &HttpRequest) -> Result<Option<&str>, Problem> {
    let Some(value) = request.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let valid = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    match valid {
        Some(key) => Ok(Some(key)),
        None => Err(Problem::validation(vec![FieldError::new(
            "Idempotency-Key",
            "must be 1-255 visible ASCII characters",
        )])),
    }
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
    let mut errors = Vec::new();
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => {
            let parsed = OrderStatus::parse(s);
            if parsed.is_none() {
                errors.push(FieldError::new("status", "is not an order status"));
            }
            parsed
        }
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        errors.push(FieldError::new("limit", "must be 1 to 200"));
    }
    let cursor = match query.cursor.as_deref() {
        None => None,
        Some(c) => {
            let parsed = query::Cursor::decode(c);
            if parsed.is_none() {
                errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                ));
            }
            parsed
        }
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    let filter = query::ListFilter {
        customer_id: query.customer_id,
        status,
        limit,
        cursor,
    };
    Ok(HttpResponse::Ok().json(query::list_orders(&state.pool, &filter).await?))
}
