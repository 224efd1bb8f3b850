//! The transactional outbox: events are written as rows in the transaction of the state change
//! they announce ([`enqueue`]), which [`commit`] commits, and published to Kafka by the
//! [`relay`].
//!
//! # Waking the relay
//! [`commit`] wakes the relay of its own process directly, and only when [`enqueue`] wrote a
//! row in that transaction: the [`Transaction`] records it. A consumer batch that enqueued
//! nothing (the projector's, a payment that changed nothing) costs the relay no pass.
//! Nothing on the commit path notifies PostgreSQL: a transaction that sends `NOTIFY` takes a
//! database-wide lock at commit, which serializes the commits of all of them and so caps the
//! write rate of every service sharing the database. When another replica leads, this process's
//! standby relay passes the wake-up on with one `NOTIFY outbox` of its own, after the commit
//! and for any number of commits at once (see [`relay`]). Rows committed without [`commit`]
//! are found by the relay's periodic poll.

pub mod relay;

use crate::telemetry;
use schemas::{codec, CodecError, DomainEvent};
use std::{
    ops::Deref,
    sync::{
        atomic::{AtomicBool, Ordering},
        LazyLock,
    },
};
use tokio::sync::watch;

/// Changed after every [`commit`] of this process that committed outbox rows; the relays
/// watch it.
static COMMITTED: LazyLock<watch::Sender<()>> = LazyLock::new(|| watch::Sender::new(()));

/// A database transaction that knows whether [`enqueue`] wrote to the outbox in it, so that
/// [`commit`] wakes the relay only when there is something to publish. Every other statement
/// goes to the transaction it dereferences to; dropping it rolls back.
pub struct Transaction<'a> {
    inner: deadpool_postgres::Transaction<'a>,
    /// Atomic only because handlers hold `&Transaction` across awaits in futures that must be
    /// `Send`.
    enqueued: AtomicBool,
}

impl<'a> Transaction<'a> {
    /// Begins a transaction on `client`.
    pub async fn begin(
        client: &'a mut deadpool_postgres::Client,
    ) -> Result<Self, tokio_postgres::Error> {
        Ok(Transaction {
            inner: client.transaction().await?,
            enqueued: AtomicBool::new(false),
        })
    }
}

impl<'a> Deref for Transaction<'a> {
    type Target = deadpool_postgres::Transaction<'a>;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

/// Commits `tx`, then wakes this process's relay if `tx` wrote outbox rows.
pub async fn commit(tx: Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    let enqueued = tx.enqueued.into_inner();
    tx.inner.commit().await?;
    if enqueued {
        COMMITTED.send_replace(());
    }
    Ok(())
}

/// What a relay waits on for commits of outbox rows by its own process: `changed()` resolves
/// after any such commit since the receiver last looked (`borrow_and_update`), so none is
/// missed while a pass runs.
fn commits() -> watch::Receiver<()> {
    COMMITTED.subscribe()
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("event could not be encoded")]
    Encode(#[from] CodecError),
    #[error("outbox row could not be written")]
    Write(#[from] tokio_postgres::Error),
}

/// An outbox row: `$1` event id, `$2` topic, `$3` message key, `$4` event type, `$5` the Avro
/// datum, `$6` traceparent, `$7` schema version. Public for the benches' raw baselines.
pub const INSERT_ROW: &str =
    "INSERT INTO outbox (event_id, topic, message_key, event_type, payload, traceparent,
                         schema_version)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Writes `event` to the outbox inside `tx`. Needs neither Kafka nor the registry. The current
/// span's trace context is stored with it, so the event continues the trace that caused it.
///
/// Call it after the statement that locks the order's state row: ids then follow the order in
/// which transactions about one order commit, which is the order the relay publishes them in.
pub async fn enqueue(tx: &Transaction<'_>, event: &DomainEvent) -> Result<(), OutboxError> {
    let datum = codec::encode_datum(event)?;
    let header = event.header();
    let event_type = event.event_type();
    let traceparent = telemetry::traceparent(&tracing::Span::current());
    let statement = tx.prepare_cached(INSERT_ROW).await?;
    tx.execute(
        &statement,
        &[
            &header.event_id,
            &event_type.topic().name(),
            &header.order_id.to_string(),
            &event_type.full_name(),
            &datum,
            &traceparent,
            // The datum is written with this build's newest schema (codec::encode_datum).
            &(event_type.newest_version() as i32),
        ],
    )
    .await?;
    tx.enqueued.store(true, Ordering::Relaxed);
    Ok(())
}
