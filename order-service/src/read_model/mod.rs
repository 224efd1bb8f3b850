//! The read model's lifecycle beside the live projector: a shadow copy rebuilt from the log,
//! handed over to the API while the platform runs, and compared with the live one.
//!
//! The live tables are made by `migrations/` and written by
//! [`crate::consumers::order_status_projector`]. Everything else that touches them is here, so a
//! new column, index or table of the read model is one change in this crate:
//! - [`shadow`]: the shadow tables, shaped from the live ones (`LIKE`, so their columns and
//!   constraints exist once, in the migration), with the live indexes copied when the shadow is
//!   about to serve, and the rebuild's inbox of event ids.
//! - [`swap`]: the hand-over: the shadow made durable and indexed, the live tables locked, the
//!   shadow's positions checked against the live ones, the tables renamed.
//! - [`verify`]: the differences between the shadow and the live views.
//!
//! What reads the log (Kafka, the registry) is the caller's: `orderflow replay read-model`
//! (the `orderflow-cli` crate) drives these steps and prints their progress.

pub mod shadow;
pub mod swap;
pub mod verify;

pub use shadow::Shadow;

use platform::db::DbError;

/// Why a step of the lifecycle refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    #[error(
        "another rebuild of {0} is running (it holds the advisory lock hashtext('{0}')); \
         nothing changed"
    )]
    Busy(String),
    #[error("the shadow is behind the live projector in {0} partition(s); nothing swapped")]
    Behind(i64),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for ReadModelError {
    fn from(e: tokio_postgres::Error) -> Self {
        ReadModelError::Db(DbError::Postgres(e))
    }
}
