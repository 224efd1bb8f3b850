//! What every service's REST API shares: problem+json errors, health and metrics endpoints,
//! trace continuation from `traceparent`, the JSON body rules, request validation
//! ([`validate`]) and the generated OpenAPI document with its 404/405 answers ([`openapi`]).

pub mod health;
pub mod openapi;
pub mod problem;
pub mod trace;
pub mod validate;

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

/// Registers `/health/live`, `/health/ready`, `/metrics` and `/openapi.json` (`document`),
/// the extractor configs, and the problem+json 404 or 405 for requests no route takes.
pub fn configure(
    cfg: &mut web::ServiceConfig,
    readiness: Readiness,
    document: web::Data<openapi::Document>,
) {
    cfg.app_data(json_config())
        .app_data(path_config())
        .app_data(query_config())
        .app_data(web::Data::new(readiness))
        .app_data(document)
        .route("/health/live", web::get().to(health::live))
        .route("/health/ready", web::get().to(health::ready))
        .route("/metrics", web::get().to(health::metrics))
        .route("/openapi.json", web::get().to(openapi::openapi_json))
        .default_service(web::to(openapi::unmatched));
}

/// An id from a path segment: anything but a UUID in its hyphenated form (OpenAPI's
/// `format: uuid`) is a malformed request (400), not a missing resource. `what` names it in
/// the answer, e.g. "order id".
pub fn path_uuid(raw: &str, what: &str) -> Result<uuid::Uuid, Problem> {
    uuid_text(raw)
        .ok_or_else(|| Problem::bad_request(format!("{raw:?} is not a valid {what} (a UUID)")))
}

/// A UUID as OpenAPI's `format: uuid` has it: 36 characters, hyphenated. (`Uuid::parse`
/// would also take the simple, braced and URN forms, which the document does not promise.)
pub fn uuid_text(raw: &str) -> Option<uuid::Uuid> {
    (raw.len() == 36).then(|| raw.parse().ok()).flatten()
}
