//! What the REST endpoints and the gRPC service do, as functions over the database: each takes
//! validated input, runs its transaction, and returns a domain result or an [`OrderError`].
//! The error's HTTP answer is mapped below, its gRPC status in `grpc::status`.

pub mod cancel;
pub mod follow;
pub mod place;
pub mod query;

use platform::{db::DbError, http::Problem, outbox::OutboxError};

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("order not found")]
    NotFound,
    #[error("the Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("the order has shipped and can no longer be cancelled")]
    AlreadyShipped,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

impl From<platform::db::PoolError> for OrderError {
    fn from(e: platform::db::PoolError) -> Self {
        OrderError::Db(e.into())
    }
}

impl From<tokio_postgres::Error> for OrderError {
    fn from(e: tokio_postgres::Error) -> Self {
        OrderError::Db(e.into())
    }
}

/// The one place order errors become HTTP answers.
impl From<OrderError> for Problem {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::NotFound => Problem::not_found("no order with this id"),
            OrderError::IdempotencyKeyReused => {
                let mut p = Problem::validation(vec![platform::http::FieldError::new(
                    "Idempotency-Key",
                    "was already used with a different request body",
                )]);
                p.detail = e.to_string();
                p
            }
            OrderError::AlreadyShipped => Problem::conflict(e.to_string()),
            OrderError::Db(db) => db.into(),
            OrderError::Outbox(outbox) => outbox.into(),
        }
    }
}
