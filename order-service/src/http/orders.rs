//! `POST /orders` and `GET /orders`.

use super::AppState;
use crate::{
    core::{
        place::{idempotency_key as checked_key, place_order},
        query::{self, ListFilter, ListQuery, OrderView, Page},
    },
    domain::new_order::{NewOrder, NewOrderRequest},
};
use actix_web::{get, http::header, post, web, HttpRequest, HttpResponse};
use platform::http::{validate::Closed, Problem};

/// Places an order. Payment and shipping follow asynchronously; the order's status tells.
#[utoipa::path(
    tag = "orders",
    request_body = NewOrderRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", nullable = false,
            description = "Retries with the same key and body answer the same order"),
    ),
    responses(
        (status = ACCEPTED, description = "Accepted: the order, now PENDING", body = OrderView,
            headers(
                ("Location" = String, description = "`/orders/{order_id}`"),
                ("ETag" = String, description = "The order's version, quoted"),
            )),
        (status = UNPROCESSABLE_ENTITY, description = "A field is invalid, or the Idempotency-Key was used with another body; `errors` names each"),
    )
)]
#[post("/orders")]
#[tracing::instrument(skip_all, fields(order_id = tracing::field::Empty))]
pub async fn place(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Json<Closed<NewOrderRequest>>,
) -> Result<HttpResponse, Problem> {
    let key = idempotency_key(&request)?;
    let order = NewOrder::try_from(body.into_inner()).map_err(Problem::validation)?;
    let order_id = place_order(&state.pool, &order, key).await?;
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
    checked_key(raw, "Idempotency-Key").map_err(|e| Problem::validation(vec![e]))
}

/// Lists orders, newest first, a page at a time.
#[utoipa::path(
    tag = "orders",
    params(ListQuery),
    responses(
        (status = OK, description = "A page of orders", body = Page),
        (status = UNPROCESSABLE_ENTITY, description = "A filter is invalid; `errors` names each"),
    )
)]
#[get("/orders")]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, Problem> {
    let filter = ListFilter::try_from(query.into_inner()).map_err(Problem::validation)?;
    Ok(HttpResponse::Ok().json(query::list_orders(&state.pool, &filter).await?))
}
