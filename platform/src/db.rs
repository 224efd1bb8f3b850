//! The connection pool and schema migrations.
//!
//! Migrations are plain SQL files applied in order, each once, recorded in
//! `schema_migrations`. The platform's own (outbox, inbox) come first, then the service's. A
//! transaction-scoped advisory lock lets several replicas start at once without racing.

use crate::{config::DatabaseSettings, secret::Secret};
use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
use std::time::Duration;

pub use deadpool_postgres::{Object as Client, Pool, PoolError, Transaction};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database pool could not be built")]
    Build(#[from] deadpool_postgres::BuildError),
    #[error("no database connection available")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database error")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("database url is invalid")]
    Url(#[source] tokio_postgres::Error),
}

impl DbError {
    /// Whether the database could not be reached or answer now (pool exhausted, connection
    /// refused or lost, server restarting): worth a retry later, a 503 to a client.
    pub fn is_unavailable(&self) -> bool {
        match self {
            DbError::Pool(_) => true,
            DbError::Postgres(e) => is_transient(e),
            DbError::Build(_) | DbError::Url(_) => false,
        }
    }
}

/// Whether a statement failed for a reason that passes: the connection (closed, I/O error,
/// SQLSTATE class 08), the server (57P01-57P03 shutting down or starting, class 53 out of
/// resources), or concurrency (40001 serialization failure, 40P01 deadlock, 55P03 lock not
/// available). Anything else the server said (a constraint, a type, a syntax) fails again the
/// same way.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(state) => {
            let code = state.code();
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || matches!(code, "40001" | "40P01" | "55P03")
        }
        // No SQLSTATE: the server did not answer (I/O, connect, timeout), unless the client
        // itself failed to convert a value.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// A migration: a version that orders it and the SQL that applies it.
pub type Migration = (&'static str, &'static str);

/// The platform's own tables; services list theirs after these.
pub const PLATFORM_MIGRATIONS: &[Migration] = &[(
    "platform_0001_outbox_inbox",
    include_str!("../migrations/0001_outbox_inbox.sql"),
)];

/// Builds a pool. Connections are opened lazily, so this succeeds while the database is down.
///
/// Call it on the main runtime: every connection is opened and driven there. actix-web runs
/// each HTTP worker on a runtime of its own; a connection opened by a handler would otherwise
/// live on that worker's runtime and die with it at shutdown, while another worker uses it.
///
/// Every wait is bounded (`database.*_timeout_ms`): a pool that is exhausted, or a database
/// that does not answer, fails the caller with [`DbError::Pool`] instead of hanging it.
pub fn pool(settings: &DatabaseSettings) -> Result<Pool, DbError> {
    let ms = Duration::from_millis;
    let mut config: tokio_postgres::Config = settings.url.expose().parse().map_err(DbError::Url)?;
    config.connect_timeout(ms(settings.connect_timeout_ms));
    let manager = Manager::from_connect(
        config,
        OnRuntime(tokio::runtime::Handle::current()),
        ManagerConfig {
            // Fast recycling checks only that the connection is not closed; a broken one fails
            // its next query and the caller's retry takes a fresh one.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(settings.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(ms(settings.pool_wait_timeout_ms)))
        .create_timeout(Some(ms(settings.connect_timeout_ms)))
        .recycle_timeout(Some(ms(settings.recycle_timeout_ms)))
        .build()?)
}

/// Opens connections on one runtime, whoever asks for them.
struct OnRuntime(tokio::runtime::Handle);

impl deadpool_postgres::Connect for OnRuntime {
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> futures::future::BoxFuture<
        '_,
        Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), tokio_postgres::Error>,
    > {
        let pg_config = pg_config.clone();
        let runtime = self.0.clone();
        Box::pin(async move {
            let opened = runtime.spawn(async move {
                let (client, connection) = pg_config.connect(tokio_postgres::NoTls).await?;
                let driver = tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!(error = %e, "database connection closed");
                    }
                });
                Ok((client, driver))
            });
            match opened.await {
                Ok(result) => result,
                // Only when the main runtime itself is shutting down.
                Err(e) => panic!("database connection task did not finish: {e}"),
            }
        })
    }
}

/// Applies the platform's migrations and then `service`'s, each exactly once.
pub async fn migrate(pool: &Pool, service: &[Migration]) -> Result<(), DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    // One migrator at a time per database; released at commit.
    tx.execute("SELECT pg_advisory_xact_lock(7265)", &[])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version TEXT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await?;
    for (version, sql) in PLATFORM_MIGRATIONS.iter().chain(service) {
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[version],
            )
            .await?
            .is_some();
        if !done {
            tracing::info!(version, "applying migration");
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[version],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// How many notifications a dedicated connection holds for its reader. Past it, further ones
/// are dropped and the reader is told it lagged ([`Notice::Lagged`]): memory stays bounded, and
/// the connection keeps answering queries (a reader waiting for its own query's answer must not
/// block the connection on a full channel).
const NOTIFICATION_BUFFER: usize = 1024;

/// What a dedicated connection's reader receives.
#[derive(Debug)]
pub enum Notice {
    Notification(tokio_postgres::Notification),
    /// Notifications were dropped because the reader fell behind: treat everything as changed.
    Lagged,
}

/// The notifications of a dedicated connection (`LISTEN`), bounded.
pub struct Notifications {
    receiver: tokio::sync::mpsc::Receiver<tokio_postgres::Notification>,
    lagged: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Notifications {
    /// The next notice; `None` once the connection is closed. A lag is reported before the
    /// notifications that were kept (there are some: it only happens on a full buffer).
    pub async fn recv(&mut self) -> Option<Notice> {
        if self.lagged.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Some(Notice::Lagged);
        }
        self.receiver.recv().await.map(Notice::Notification)
    }

    /// Discards whatever is buffered: for readers that only need a wake-up.
    pub fn drain(&mut self) {
        while self.receiver.try_recv().is_ok() {}
        self.lagged
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Opens a connection outside the pool, for sessions that must stay on one backend (advisory
/// locks, LISTEN). The connection task runs until the returned client is dropped; notifications
/// are forwarded to the returned [`Notifications`].
pub async fn dedicated(
    url: &Secret<String>,
) -> Result<(tokio_postgres::Client, Notifications), DbError> {
    use futures::StreamExt;
    let (client, mut connection) =
        tokio_postgres::connect(url.expose(), tokio_postgres::NoTls).await?;
    let (tx, receiver) = tokio::sync::mpsc::channel(NOTIFICATION_BUFFER);
    let lagged = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let lag = lagged.clone();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(tokio_postgres::AsyncMessage::Notification(n)) => {
                    if let Err(tokio::sync::mpsc::error::TrySendError::Full(_)) = tx.try_send(n) {
                        lag.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "dedicated database connection closed");
                    break;
                }
            }
        }
    });
    Ok((client, Notifications { receiver, lagged }))
}
