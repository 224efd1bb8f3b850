//! The one place where what the core says becomes a gRPC status, as `core/mod.rs` maps it to
//! problem+json for REST. Details travel as `google.rpc` messages (`grpc-status-details-bin`).

use crate::core::OrderError;
use platform::http::FieldError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `INVALID_ARGUMENT` naming every invalid field in a `google.rpc.BadRequest`; the message
/// lists them too, for clients that read no details.
pub fn invalid(errors: Vec<FieldError>) -> Status {
    let message = errors
        .iter()
        .map(|e| format!("{} {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    let mut details = ErrorDetails::new();
    for e in errors {
        details.add_bad_request_violation(e.field, e.message);
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

impl From<OrderError> for Status {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::NotFound => Status::not_found("no order with this id"),
            OrderError::IdempotencyKeyReused => Status::already_exists(
                "the idempotency-key was already used with a different request",
            ),
            OrderError::AlreadyShipped => Status::with_error_details(
                Code::FailedPrecondition,
                e.to_string(),
                ErrorDetails::with_precondition_failure_violation(
                    "SHIPPED",
                    "order",
                    "an order can be cancelled until its parcel is dispatched",
                ),
            ),
            // As REST answers 503: the pool, a lost connection, a restarting server.
            OrderError::Db(ref db) if db.is_unavailable() => {
                Status::unavailable("the database is unavailable")
            }
            other => {
                tracing::error!(error = %platform::error_chain(&other), "call failed");
                Status::internal("the call could not be completed; it is safe to retry")
            }
        }
    }
}
