//! The machinery the three orderflow services share, so that they hold domain logic only.
//!
//! # Layout
//! - [`app`]: [`app::Platform`] (pool, registry, producer built from settings) and
//!   [`app::Running`], the started service with `port()` and `run_until_stopped()`.
//! - [`config`]: layered settings (defaults, file, `ORDERFLOW__*` and `<SERVICE>__*`
//!   environment) and their validation.
//! - [`db`]: the PostgreSQL pool, migrations, dedicated connections for locks and LISTEN.
//! - [`outbox`]: writing events in the business transaction ([`outbox::enqueue`]) and the
//!   [`outbox::relay`] that publishes them.
//! - [`consumer`]: consumer groups with inbox deduplication, batching and the dead-letter
//!   topic ([`consumer::dlq`]).
//! - [`registry`]: the schema registry client (Confluent wire format) and error classes.
//! - [`kafka`]: client configurations (bootstrap, typed security, then operator properties) and
//!   the readiness probe that names a refused login.
//! - [`http`]: problem+json, health, metrics, trace continuation for actix-web; request
//!   validation by deserialization ([`http::validate`]); the generated OpenAPI document and
//!   the 404/405 answers ([`http::openapi`]).
//! - [`telemetry`]: tracing, OTLP export, `traceparent` in and out.
//! - [`metrics`]: the Prometheus registry.
//! - [`backoff`], [`secret`], [`shutdown`]: small shared pieces.

pub mod app;
pub mod backoff;
pub mod config;
pub mod consumer;
pub mod db;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod outbox;
pub mod registry;
pub mod secret;
pub mod shutdown;
pub mod telemetry;

/// An error and its causes on one line, for logs and dead-letter headers.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
