//! What every service's REST API shares: problem+json errors, health and metrics endpoints,
//! trace continuation from `traceparent`, and the JSON body rules.

pub mod health;
pub mod problem;
pub mod trace;

pub use health::Readiness;
pub use problem::{FieldError, Problem};

use actix_web::web;

/// The largest request body any endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// JSON bodies: at most 64 KiB, `application/json` required, every failure as problem+json
/// (415 wrong content type, 413 too large, 400 malformed, 422 well-formed but wrong shape).
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .content_type_required(true)
        .content_type(|mime| mime.essence_str() == "application/json")
        .error_handler(|err, _req| problem::from_json_error(err).into())
}

/// Path segments that do not parse (a malformed id) answer 400.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _req| Problem::bad_request(format!("malformed path: {err}")).into())
}

/// Query strings that do not parse answer 400.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default()
        .error_handler(|err, _req| Problem::bad_request(format!("malformed query: {err}")).into())
}

/// Registers `/health/live`, `/health/ready`, `/metrics` and `/openapi.json`, the extractor
/// configs, and problem+json for unknown routes.
pub fn configure(cfg: &mut web::ServiceConfig, readiness: Readiness, openapi: &'static str) {
    cfg.app_data(json_config())
        .app_data(path_config())
        .app_data(query_config())
        .app_data(web::Data::new(readiness))
        .app_data(web::Data::new(OpenApi(openapi)))
        .route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .route("/metrics", web::get().to(health::metrics))
        .route("/openapi.json", web::get().to(openapi_json));
}

/// An id from a path segment: anything but a UUID is a malformed request (400), not a missing
/// resource. `what` names it in the answer, e.g. "order id".
pub fn path_uuid(raw: &str, what: &str) -> Result<uuid::Uuid, Problem> {
    raw.parse()
        .map_err(|_| Problem::bad_request(format!("{raw:?} is not a valid {what} (a UUID)")))
}

/// A required UUID query parameter: missing or malformed is a validation error on `field`.
pub fn required_uuid(value: Option<&str>, field: &str) -> Result<uuid::Uuid, Problem> {
    value.and_then(|v| v.parse().ok()).ok_or_else(|| {
        Problem::validation(vec![FieldError::new(
            field,
            "is required and must be a UUID",
        )])
    })
}

/// The answer for routes that do not exist; set as the app's default service.
pub async fn not_found() -> Problem {
    Problem::not_found("no such resource")
}

struct OpenApi(&'static str);

async fn openapi_json(doc: web::Data<OpenApi>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0)
}
