//! RFC 9457 problem details: the one shape of every error response.

use actix_web::{
    error::JsonPayloadError, http::StatusCode, HttpResponse, Responder, ResponseError,
};
use serde::Serialize;
use std::fmt;

/// One invalid field of a request.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field as the client named it: `customer_id`, `items[0].quantity`, a query
    /// parameter or a header (`Idempotency-Key`).
    pub field: String,
    /// The rule it broke.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An error response. `type` is a stable URN per kind of problem, so clients can branch on it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:orderflow:problem:<kind>`, e.g. `urn:orderflow:problem:validation`.
    #[serde(rename = "type")]
    #[schema(pattern = "^urn:orderflow:problem:[a-z-]+$")]
    pub kind: String,
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    pub detail: String,
    /// Every invalid field (422 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub errors: Vec<FieldError>,
    /// Seconds after which a retry may succeed, sent as the `Retry-After` header.
    #[serde(skip)]
    pub retry_after_secs: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:orderflow:problem:{slug}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid request",
            "one or more fields are invalid",
        );
        p.errors = errors;
        p
    }

    /// For failures the client cannot fix; the detail never carries internals, which are
    /// logged instead.
    pub fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %crate::error_chain(error), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the request could not be completed; it is safe to retry",
        )
    }

    /// A dependency is down or overloaded: the client should retry (with the same
    /// `Idempotency-Key`) after `Retry-After`.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        );
        p.retry_after_secs = Some(1);
        p
    }

    /// The answer to a database failure: 503 when it passes (the pool or the connection),
    /// otherwise an internal error.
    pub fn database(error: &dyn std::error::Error, unavailable: bool) -> Self {
        if unavailable {
            tracing::warn!(error = %crate::error_chain(error), "database unavailable");
            Self::unavailable("the database is unavailable")
        } else {
            Self::internal(error)
        }
    }
}

/// The one place a database failure becomes an answer, for every service: 503 with
/// `Retry-After` while it passes (the pool, a lost connection, a restarting server), otherwise
/// 500.
impl From<crate::db::DbError> for Problem {
    fn from(e: crate::db::DbError) -> Self {
        let unavailable = e.is_unavailable();
        Problem::database(&e, unavailable)
    }
}

/// An outbox row that could not be written is a database failure; one that could not be encoded
/// is a bug (500).
impl From<crate::outbox::OutboxError> for Problem {
    fn from(e: crate::outbox::OutboxError) -> Self {
        match e {
            crate::outbox::OutboxError::Write(q) => crate::db::DbError::Postgres(q).into(),
            other => Problem::internal(&other),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        response.content_type("application/problem+json").json(self)
    }
}

impl Responder for Problem {
    type Body = actix_web::body::BoxBody;

    fn respond_to(self, _req: &actix_web::HttpRequest) -> HttpResponse {
        self.error_response()
    }
}

/// Maps a JSON extractor failure to the status the REST contract promises.
pub(crate) fn from_json_error(err: JsonPayloadError) -> Problem {
    match err {
        JsonPayloadError::ContentType => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "the body must be application/json",
        ),
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the body must be at most {limit} bytes"),
        ),
        JsonPayloadError::Deserialize(e) if e.classify() == serde_json::error::Category::Data => {
            // Well-formed JSON of the wrong shape: say which field, as for any invalid field.
            let message = e.to_string();
            let field = message
                .split('`')
                .nth(1)
                .filter(|_| {
                    message.starts_with("missing field") || message.starts_with("unknown field")
                })
                .unwrap_or("body")
                .to_owned();
            Problem::validation(vec![FieldError::new(field, message)])
        }
        JsonPayloadError::Deserialize(e) => Problem::bad_request(format!("malformed JSON: {e}")),
        other => Problem::bad_request(other.to_string()),
    }
}
