//! Liveness, readiness and metrics.
//!
//! Liveness says only that the process serves HTTP. Readiness asks the real dependencies
//! (PostgreSQL, Kafka, the registry) in parallel with a short deadline each, and answers 503
//! naming the ones that failed.

use crate::{kafka::Probe, metrics::METRICS, outbox::relay};
use actix_web::{web, HttpResponse};
use deadpool_postgres::Pool;
use serde::Serialize;
use std::{collections::BTreeMap, time::Duration};

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

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum LiveStatus {
    Live,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Live {
    status: LiveStatus,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum ReadyStatus {
    Ready,
    Unavailable,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum CheckStatus {
    Up,
    Down,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Check {
    status: CheckStatus,
    /// Why the dependency is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Readiness and each dependency's check (`postgres`, `kafka`, `registry`).
#[derive(Serialize, utoipa::ToSchema)]
struct Ready {
    status: ReadyStatus,
    checks: BTreeMap<String, Check>,
}

/// `GET /health/live`: the process serves HTTP.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "operations",
    responses((status = OK, description = "Live", body = Live))
)]
pub(crate) async fn live() -> HttpResponse {
    HttpResponse::Ok().json(Live {
        status: LiveStatus::Live,
    })
}

/// `GET /health/ready`: PostgreSQL, Kafka and the registry answer.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    responses(
        (status = OK, description = "Every dependency is up", body = Ready),
        (status = SERVICE_UNAVAILABLE, description = "A dependency is down", body = Ready),
    )
)]
pub(crate) async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let checks = readiness.checks().await;
    let ok = checks.iter().all(|(_, r)| r.is_ok());
    let body = Ready {
        status: if ok {
            ReadyStatus::Ready
        } else {
            ReadyStatus::Unavailable
        },
        checks: checks
            .into_iter()
            .map(|(name, r)| {
                let check = match r {
                    Ok(()) => Check {
                        status: CheckStatus::Up,
                        error: None,
                    },
                    Err(e) => Check {
                        status: CheckStatus::Down,
                        error: Some(e),
                    },
                };
                (name.to_owned(), check)
            })
            .collect(),
    };
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

/// `GET /metrics`: Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = OK, description = "The service's metrics", content_type = "text/plain", body = String))
)]
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
