//! Liveness, readiness and metrics.
//!
//! Liveness says only that the process serves HTTP. Readiness asks the real dependencies
//! (PostgreSQL, Kafka, the registry) in parallel with a short deadline each, and answers 503
//! naming the ones that failed.

use crate::{kafka::Probe, metrics::METRICS, outbox::relay};
use actix_web::{web, HttpResponse};
use deadpool_postgres::Pool;
use serde_json::json;
use std::time::Duration;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Inside [`CHECK_TIMEOUT`], so that the probe's own answer (a refused login) is what readiness
/// reports, not the outer "timed out".
const KAFKA_METADATA_TIMEOUT: Duration = Duration::from_millis(1500);

/// What `/health/ready` checks.
#[derive(Clone)]
pub struct Readiness {
    pub pool: Pool,
    pub kafka: Probe,
    pub registry_url: String,
    pub http: reqwest::Client,
}

impl Readiness {
    pub fn new(pool: Pool, kafka: Probe, registry_url: String) -> Self {
        Readiness {
            pool,
            kafka,
            registry_url,
            http: reqwest::Client::builder()
                .timeout(CHECK_TIMEOUT)
                .build()
                .expect("a default HTTP client builds"),
        }
    }

    async fn database(&self) -> Result<(), String> {
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        client
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn kafka(&self) -> Result<(), String> {
        let probe = self.kafka.clone();
        let check = tokio::task::spawn_blocking(move || probe.check(KAFKA_METADATA_TIMEOUT));
        // A blocking thread may start late on a busy machine: past the deadline, say what the
        // probe knows rather than the outer "timed out".
        tokio::time::timeout(KAFKA_METADATA_TIMEOUT, check)
            .await
            .map_err(|_| self.kafka.explain("timed out".into()))?
            .map_err(|e| e.to_string())?
    }

    async fn registry(&self) -> Result<(), String> {
        crate::registry::ping(&self.http, &self.registry_url).await
    }

    /// Every dependency's check, run together, each bounded by a short deadline. Also what
    /// other protocols' health (gRPC's) follows.
    pub async fn checks(&self) -> [(&'static str, Result<(), String>); 3] {
        let (db, kafka, registry) = tokio::join!(
            timed(self.database()),
            timed(self.kafka()),
            timed(self.registry()),
        );
        [("postgres", db), ("kafka", kafka), ("registry", registry)]
    }
}

pub(crate) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "live"}))
}

pub(crate) async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let checks = readiness.checks().await;
    let ok = checks.iter().all(|(_, r)| r.is_ok());
    let body = json!({
        "status": if ok { "ready" } else { "unavailable" },
        "checks": checks.iter().map(|(name, r)| (name.to_string(), match r {
            Ok(()) => json!({"status": "up"}),
            Err(e) => json!({"status": "down", "error": e}),
        })).collect::<serde_json::Map<_, _>>(),
    });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn timed(check: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err("timed out".to_owned()))
}

pub(crate) async fn metrics(readiness: web::Data<Readiness>) -> HttpResponse {
    // A short wait: /metrics answers while the pool is exhausted, without the gauges.
    let timeouts = deadpool_postgres::Timeouts {
        wait: Some(std::time::Duration::from_millis(100)),
        ..readiness.pool.timeouts()
    };
    match readiness.pool.timeout_get(&timeouts).await {
        Ok(client) => {
            if let Err(e) = relay::refresh_gauges(&client).await {
                tracing::warn!(error = %e, "outbox gauges not refreshed");
            }
        }
        Err(e) => tracing::warn!(error = %e, "outbox gauges not refreshed"),
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(METRICS.render())
}
