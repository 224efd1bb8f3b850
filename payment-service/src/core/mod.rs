//! What payment-service does, as functions over its database: the consumer and the REST
//! endpoints are thin over these.
//!
//! - [`decide`]: one payment per order, authorized up to the limit or declined above it, and
//!   refunded when the order is cancelled; each with its event, in the caller's transaction.
//! - [`query`]: payments as clients see them.

pub mod decide;
pub mod query;

use platform::{db::DbError, outbox::OutboxError};

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
}

impl From<platform::db::PoolError> for PaymentError {
    fn from(e: platform::db::PoolError) -> Self {
        PaymentError::Db(e.into())
    }
}

impl From<tokio_postgres::Error> for PaymentError {
    fn from(e: tokio_postgres::Error) -> Self {
        PaymentError::Db(e.into())
    }
}

/// The one place payment errors become HTTP answers (the platform's, for the database).
impl From<PaymentError> for platform::http::Problem {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::Db(db) => db.into(),
            PaymentError::Outbox(outbox) => outbox.into(),
        }
    }
}

/// ... and what they mean to the consumer: a database outage is retried, a bad event
/// dead-lettered.
impl From<PaymentError> for platform::consumer::HandlerError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::Db(db) => db.into(),
            PaymentError::Outbox(outbox) => outbox.into(),
        }
    }
}
