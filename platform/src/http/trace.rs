//! A span per request that continues the caller's trace from its `traceparent` header, so the
//! events a command causes carry the same trace id.

use crate::telemetry;
use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    Error,
};
use tracing::Instrument;

/// Use with `actix_web::middleware::from_fn(trace::request_span)`.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let span = tracing::info_span!(
        "http_request",
        otel.kind = "server",
        method = %req.method(),
        path = %req.path(),
        status = tracing::field::Empty,
    );
    let traceparent = req
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    telemetry::continue_trace(&span, traceparent);
    let response = next.call(req).instrument(span.clone()).await?;
    span.record("status", response.status().as_u16());
    Ok(response)
}
