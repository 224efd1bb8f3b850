//! What a service implements to consume events, and how it fails.

use super::InboundEvent;
use crate::outbox::Transaction;
use std::future::Future;

/// How a handler failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event breaks a rule that will never pass (e.g. refers to an order this service can
    /// never know): dead-letter it.
    #[error("{0}")]
    Rejected(String),
    /// A failure that repeats the same way (the database refuses a statement by a
    /// constraint or a value): tried `max_attempts` times, then dead-lettered.
    #[error("persistent failure")]
    Persistent(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything that may pass on retry.
    #[error("transient failure")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Classified by SQLSTATE ([`crate::db::is_transient`]).
impl From<tokio_postgres::Error> for HandlerError {
    fn from(e: tokio_postgres::Error) -> Self {
        if crate::db::is_transient(&e) {
            HandlerError::Transient(Box::new(e))
        } else {
            HandlerError::Persistent(Box::new(e))
        }
    }
}

impl From<crate::db::DbError> for HandlerError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Postgres(e) => e.into(),
            other if other.is_unavailable() => HandlerError::Transient(Box::new(other)),
            other => HandlerError::Persistent(Box::new(other)),
        }
    }
}

impl From<crate::outbox::OutboxError> for HandlerError {
    fn from(e: crate::outbox::OutboxError) -> Self {
        match e {
            crate::outbox::OutboxError::Encode(e) => HandlerError::Rejected(e.to_string()),
            crate::outbox::OutboxError::Write(e) => e.into(),
        }
    }
}

/// A service's reaction to events: state changes and outbox rows, all in `tx` (which the
/// consumer commits with [`outbox::commit`], waking the relay only if the batch enqueued rows).
pub trait Handler: Send + Sync + 'static {
    /// Whether [`Handler::handle_batch`] applies several events in fewer statements than one
    /// [`Handler::handle`] each; the consumer then hands it every batch of more than one event.
    const BATCHES: bool = false;

    fn handle<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        event: &'a InboundEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;

    /// Applies `events`, in their order, as [`Handler::handle`] on each would. A batch that
    /// fails with anything but a transient error is rolled back and redone one event at a
    /// time, so the event at fault is found and dead-lettered alone.
    fn handle_batch<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [&'a InboundEvent],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a {
        async move {
            for event in events {
                self.handle(tx, event).await?;
            }
            Ok(())
        }
    }
}
