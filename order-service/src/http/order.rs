//! One order: read (conditional and long poll), its events, cancellation.

use super::{parse_order_id, AppState};
use crate::core::{
    cancel::{request_cancellation, CancelOutcome},
    follow,
    query::{self, AppliedEvent, OrderView},
};
use actix_web::{get, http::header, post, web, HttpRequest, HttpResponse};
use platform::http::Problem;
use std::time::Duration;
use tokio::time::Instant;

/// The longest `Prefer: wait=N` honoured.
const MAX_WAIT: Duration = Duration::from_secs(60);

fn etag(view: &OrderView) -> String {
    format!("\"{}\"", view.version)
}

fn ok(view: OrderView) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag(&view)))
        .json(view)
}

fn not_modified(view: &OrderView) -> HttpResponse {
    HttpResponse::NotModified()
        .insert_header((header::ETAG, etag(view)))
        .finish()
}

/// Whether `If-None-Match` names the current version.
fn matches(request: &HttpRequest, view: &OrderView) -> bool {
    let current = etag(view);
    request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == current || t == "*")
        })
}

/// `Prefer: wait=N` (RFC 7240), capped at [`MAX_WAIT`].
fn preferred_wait(request: &HttpRequest) -> Option<Duration> {
    request
        .headers()
        .get_all("Prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .find_map(|p| p.trim().strip_prefix("wait=")?.trim().parse::<u64>().ok())
        .map(|secs| Duration::from_secs(secs).min(MAX_WAIT))
}

/// One order. With `If-None-Match` naming its current version, 304; with `Prefer: wait=N` as
/// well, the answer waits up to N seconds (at most 60) for the order to change.
#[utoipa::path(
    tag = "orders",
    params(
        ("order_id" = uuid::Uuid, Path, description = "The order's id"),
        ("If-None-Match" = Option<String>, Header, description = "ETags already seen, e.g. `\"3\"`"),
        ("Prefer" = Option<String>, Header, description = "`wait=N`: long poll up to N seconds (60 at most) with `If-None-Match`"),
    ),
    responses(
        (status = OK, description = "The order", body = OrderView,
            headers(("ETag" = String, description = "The order's version, quoted"))),
        (status = NOT_MODIFIED, description = "The order is still at the version named",
            headers(("ETag" = String, description = "The order's version, quoted"))),
        (status = NOT_FOUND, description = "No order with this id"),
    )
)]
#[get("/orders/{order_id}")]
#[tracing::instrument(skip_all, fields(order_id = %raw_id))]
pub async fn get(
    state: web::Data<AppState>,
    request: HttpRequest,
    raw_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let order_id = parse_order_id(&raw_id)?;
    let view = query::find_order(&state.pool, order_id).await?;
    if !matches(&request, &view) {
        return Ok(ok(view));
    }
    let Some(wait) = preferred_wait(&request) else {
        return Ok(not_modified(&view));
    };

    // Long poll: the follower subscribes first, then re-reads, so a change between the two
    // reads is seen.
    let deadline = Instant::now() + wait;
    let (mut follower, mut current) =
        follow::Follower::start(&state.pool, &state.watchers, order_id).await?;
    while matches(&request, &current) {
        match tokio::time::timeout_at(deadline, follower.next()).await {
            Ok(Ok(Some(view))) => current = view,
            Ok(Err(e)) => return Err(e.into()),
            // Deadline passed, or the listener is gone (shutdown): answer with what we have.
            Ok(Ok(None)) | Err(_) => return Ok(not_modified(&current)),
        }
    }
    Ok(ok(current))
}

/// The events the read model applied to the order, in order, with their trace ids.
#[utoipa::path(
    tag = "orders",
    params(("order_id" = uuid::Uuid, Path, description = "The order's id")),
    responses(
        (status = OK, description = "The applied events", body = Vec<AppliedEvent>),
        (status = NOT_FOUND, description = "No order with this id"),
    )
)]
#[get("/orders/{order_id}/events")]
pub async fn events(
    state: web::Data<AppState>,
    raw_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let order_id = parse_order_id(&raw_id)?;
    Ok(HttpResponse::Ok().json(query::order_events(&state.pool, order_id).await?))
}

/// Asks for the order's cancellation; shipping decides (it alone knows whether the parcel left).
#[utoipa::path(
    tag = "orders",
    params(("order_id" = uuid::Uuid, Path, description = "The order's id")),
    responses(
        (status = OK, description = "The order was already cancelled", body = OrderView,
            headers(("ETag" = String, description = "The order's version, quoted"))),
        (status = ACCEPTED, description = "The request is on its way to shipping", body = OrderView,
            headers(("ETag" = String, description = "The order's version, quoted"))),
        (status = NOT_FOUND, description = "No order with this id"),
        (status = CONFLICT, description = "The order has shipped"),
    )
)]
#[post("/orders/{order_id}/cancel")]
#[tracing::instrument(skip_all, fields(order_id = %raw_id))]
pub async fn cancel(
    state: web::Data<AppState>,
    raw_id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    let order_id = parse_order_id(&raw_id)?;
    let outcome = request_cancellation(&state.pool, order_id).await?;
    let view = query::find_order(&state.pool, order_id).await?;
    Ok(match outcome {
        CancelOutcome::AlreadyCancelled => ok(view),
        CancelOutcome::Requested => HttpResponse::Accepted()
            .insert_header((header::ETAG, etag(&view)))
            .json(view),
    })
}
