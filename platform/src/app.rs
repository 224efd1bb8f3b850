//! Starting and stopping a service.
//!
//! A service's `startup::build` creates a [`Platform`] from its settings, registers its
//! routes and background tasks, and returns a [`Running`]; a service's `main` is [`main`]:
//! telemetry, settings, signals, `run_until_stopped`. Tests build in-process on port 0.

use crate::{
    config::CommonSettings,
    consumer::{ConsumerGroup, Handler},
    db::{self, DbError, Migration},
    http::Readiness,
    kafka,
    outbox::relay::Relay,
    registry::{Registry, RegistryError},
};
use deadpool_postgres::Pool;
use rdkafka::{error::KafkaError, producer::FutureProducer};
use std::{future::Future, sync::Arc, time::Duration};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("kafka client could not be created")]
    Kafka(#[from] KafkaError),
    #[error("a server port (HTTP, or gRPC where served) could not be bound")]
    Bind(#[from] std::io::Error),
}

/// The infrastructure handles of one service.
#[derive(Clone)]
pub struct Platform {
    pub settings: CommonSettings,
    pub pool: Pool,
    pub registry: Arc<Registry>,
    pub producer: FutureProducer,
    /// What readiness asks Kafka through.
    pub kafka_probe: kafka::Probe,
}

impl Platform {
    /// Connects (lazily) and migrates the service database. Kafka and the registry need not be
    /// up: the service accepts work without them and its relay catches up.
    pub async fn build(
        settings: CommonSettings,
        migrations: &[Migration],
    ) -> Result<Self, StartError> {
        let pool = db::pool(&settings.database)?;
        db::migrate(&pool, migrations).await?;
        Ok(Platform {
            registry: Arc::new(Registry::new(&settings.registry)?),
            producer: kafka::producer(&settings.kafka)?,
            kafka_probe: kafka::Probe::new(&settings.kafka)?,
            pool,
            settings,
        })
    }

    pub fn readiness(&self) -> Readiness {
        Readiness::new(
            self.pool.clone(),
            self.kafka_probe.clone(),
            self.settings.registry.url.clone(),
        )
    }

    pub fn relay(&self) -> Relay {
        Relay::new(
            self.settings.database.url.clone(),
            self.producer.clone(),
            self.registry.clone(),
            self.settings.relay.clone(),
            self.settings.kafka.clone(),
        )
    }

    /// Starts the HTTP server with the shared endpoints, middleware and error answers plus the
    /// service's own routes (`routes`, registered through `utoipa_actix_web` so that each is
    /// documented where it is routed; handlers can take `web::Data<Pool>`), serving the
    /// OpenAPI document generated from them and `api` (the service's title and description),
    /// and the outbox relay when enabled. The service then adds its consumers with
    /// [`Running::spawn`].
    pub fn serve<F>(
        &self,
        api: utoipa::openapi::OpenApi,
        routes: F,
        shutdown: CancellationToken,
    ) -> Result<Running, StartError>
    where
        F: Fn(&mut utoipa_actix_web::service_config::ServiceConfig) + Clone + Send + 'static,
    {
        use actix_web::{middleware, web, App, HttpServer};
        use utoipa_actix_web::AppExt;
        let http = &self.settings.http;
        let listener = std::net::TcpListener::bind((http.host.as_str(), http.port))?;
        let port = listener.local_addr()?.port();
        let readiness = self.readiness();
        let pool = web::Data::new(self.pool.clone());
        // The document once, from the same registrations the workers make.
        let (_, api) = App::new()
            .into_utoipa_app()
            .openapi(api)
            .configure(routes.clone())
            .split_for_parts();
        let document = web::Data::new(crate::http::openapi::document(api));
        let server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .configure(routes.clone())
                .into_app()
                .wrap(middleware::from_fn(crate::http::trace::request_span))
                .app_data(pool.clone())
                .configure(|cfg| crate::http::configure(cfg, readiness.clone(), document.clone()))
        })
        .listen(listener)?
        // Shutdown comes from our token (see `Running`), not from actix's own signal handling.
        .disable_signals()
        .shutdown_timeout(http.shutdown_timeout_secs)
        .run();
        tracing::info!(port, "listening");

        let mut running = Running::new(
            port,
            server,
            shutdown,
            Duration::from_secs(http.shutdown_timeout_secs),
        );
        if self.settings.relay.enabled {
            let relay = self.relay();
            running.spawn(|token| relay.run(token));
        }
        Ok(running)
    }

    /// The consumer group `group` of the contract, reading its topics with `handler`.
    pub fn group_consumer<H: Handler>(
        &self,
        group: schemas::Group,
        handler: H,
    ) -> ConsumerGroup<H> {
        self.consumer(group.name(), group.reads(), handler)
    }

    /// A consumer group for `handler`; `group` and `topics` are the contract's names, to which
    /// the deployment's Kafka namespace is applied.
    pub fn consumer<H: Handler>(
        &self,
        group: &str,
        topics: &[schemas::Topic],
        handler: H,
    ) -> ConsumerGroup<H> {
        let kafka = &self.settings.kafka;
        let group = kafka.group(group);
        let named: Vec<(String, schemas::Topic)> =
            topics.iter().map(|t| (kafka.topic(t.name()), *t)).collect();
        crate::metrics::METRICS.zero_consumer(&group, &named);
        ConsumerGroup {
            group,
            topics: named.into_iter().map(|(name, _)| name).collect(),
            handler: Arc::new(handler),
            pool: self.pool.clone(),
            registry: self.registry.clone(),
            producer: self.producer.clone(),
            kafka: self.settings.kafka.clone(),
            settings: self.settings.consumer.clone(),
        }
    }
}

/// A started service: its HTTP server and background tasks, stopped together.
pub struct Running {
    port: u16,
    server: actix_web::dev::Server,
    tasks: JoinSet<()>,
    shutdown: CancellationToken,
    shutdown_timeout: Duration,
}

impl Running {
    pub fn new(
        port: u16,
        server: actix_web::dev::Server,
        shutdown: CancellationToken,
        shutdown_timeout: Duration,
    ) -> Self {
        Running {
            port,
            server,
            tasks: JoinSet::new(),
            shutdown,
            shutdown_timeout,
        }
    }

    /// Runs a consumer group until shutdown.
    pub fn spawn_consumer<H: Handler>(&mut self, consumer: ConsumerGroup<H>) {
        self.spawn(|token| async move {
            let group = consumer.group.clone();
            if let Err(e) = consumer.run(token).await {
                tracing::error!(%group, error = %crate::error_chain(&e), "consumer group stopped");
            }
        });
    }

    /// Runs `task` until shutdown; it receives the token and must return once it is cancelled.
    pub fn spawn<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task(self.shutdown.clone()));
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the shutdown token is cancelled, then stops accepting requests, lets
    /// in-flight ones and the background tasks finish, and returns.
    pub async fn run_until_stopped(mut self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            handle.stop(true).await;
        });
        let served = self.server.await;
        // Usually the cancelled token is what stopped the server (the task above); a server
        // that ended by itself (an I/O error) cancels it here, so the background tasks stop too.
        self.shutdown.cancel();
        let drained = tokio::time::timeout(self.shutdown_timeout, async {
            while let Some(result) = self.tasks.join_next().await {
                if let Err(e) = result {
                    tracing::error!(error = %e, "background task panicked");
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!("background tasks did not drain in time");
        }
        served
    }
}

/// A service's whole `main`: telemetry for `name` (until it returns), its settings from
/// `load`, then `build` with a token the process's SIGINT and SIGTERM cancel, run until
/// stopped. Every step's error ends the process with its causes.
pub async fn main<S, E, F, Fut>(
    name: &str,
    load: impl FnOnce() -> Result<S, E>,
    build: F,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    E: std::error::Error + Send + Sync + 'static,
    F: FnOnce(S, CancellationToken) -> Fut,
    Fut: Future<Output = Result<Running, StartError>>,
{
    let _telemetry = crate::telemetry::init(name)?;
    let settings = load()?;
    let shutdown = crate::shutdown::on_signal();
    build(settings, shutdown).await?.run_until_stopped().await?;
    Ok(())
}
