//! The load generator: closed-loop clients for throughput, an open loop at a fixed rate for
//! end-to-end latency. Every loop is bounded in time and in count and stops by itself.

use reqwest::{header, StatusCode};
use std::{
    future::Future,
    sync::Arc,
    time::{Duration, SystemTime},
};
use tokio::{task::JoinSet, time::Instant};

/// The most requests one closed-loop client sends, whatever the duration.
const MAX_PER_CLIENT: usize = 1_000_000;
/// A request slower than this counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Latencies of the successful requests of one measurement, and what failed.
pub struct Sample {
    pub ok: usize,
    pub errors: usize,
    pub elapsed: Duration,
    /// Sorted.
    pub latencies: Vec<Duration>,
}

impl Sample {
    pub fn new(mut latencies: Vec<Duration>, errors: usize, elapsed: Duration) -> Self {
        latencies.sort();
        Sample {
            ok: latencies.len(),
            errors,
            elapsed,
            latencies,
        }
    }

    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[index].as_secs_f64() * 1000.0
    }

    pub fn summary(&self) -> String {
        format!(
            "{:.0}/s  p50 {:.2} ms  p99 {:.2} ms  ({} ok, {} errors)",
            self.rate(),
            self.quantile_ms(0.5),
            self.quantile_ms(0.99),
            self.ok,
            self.errors
        )
    }
}

/// An HTTP client with a connection for each of `clients`, local targets only.
pub fn http_client(clients: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .no_proxy()
        .build()
        .expect("HTTP client")
}

/// `clients` tasks calling `call(client_index, request_index)` back to back for `duration`.
/// A call returns whether it succeeded; its latency counts only then.
pub async fn closed_loop<F, Fut>(clients: usize, duration: Duration, call: F) -> Sample
where
    F: Fn(usize, usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for client in 0..clients {
        let call = call.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            for request in 0..MAX_PER_CLIENT {
                if Instant::now() >= deadline {
                    break;
                }
                let sent = Instant::now();
                match tokio::time::timeout(REQUEST_TIMEOUT, call(client, request)).await {
                    Ok(true) => latencies.push(sent.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        let (l, e) = done.expect("load client panicked");
        latencies.extend(l);
        errors += e;
    }
    Sample::new(latencies, errors, start.elapsed())
}

/// Sends `request` and reads the whole body; true when the answer has `expected` status.
pub async fn answered(request: reqwest::RequestBuilder, expected: StatusCode) -> bool {
    match request.timeout(REQUEST_TIMEOUT).send().await {
        Ok(response) => {
            let status = response.status();
            response.bytes().await.is_ok() && status == expected
        }
        Err(_) => false,
    }
}

/// A new order as a client sends it, small enough never to be declined.
pub fn order_body(customer: usize) -> String {
    serde_json::json!({
        "customer_id": format!("bench-customer-{}", customer % 1000),
        "currency": "EUR",
        "items": [
            {"sku": "SKU-1001", "quantity": 2, "unit_price_cents": 1999},
            {"sku": "SKU-2002", "quantity": 1, "unit_price_cents": 4550}
        ]
    })
    .to_string()
}

/// What one order of the open loop saw.
pub struct Journey {
    pub order_id: String,
    /// Wall-clock time the POST was sent, to compare with the events' `occurred_at`.
    pub sent_at: SystemTime,
    /// POST sent to 202 received.
    pub accepted: Duration,
    /// POST sent to a long poll answering `SHIPMENT_SCHEDULED`.
    pub scheduled: Duration,
    /// The `updated_at` of that answer: when the projector's transaction that applied
    /// `ShipmentScheduled` began (PostgreSQL's `now()`).
    pub view_updated_at: String,
}

/// How long one order may take from POST to `SHIPMENT_SCHEDULED` before it counts as failed.
const JOURNEY_LIMIT: Duration = Duration::from_secs(60);
/// Long polls per order at most (each waits up to 30 s or returns on a change).
const MAX_POLLS: usize = 50;

/// Places an order and long-polls it until its status is `SHIPMENT_SCHEDULED`.
pub async fn journey(
    http: reqwest::Client,
    base: Arc<str>,
    body: String,
) -> Result<Journey, String> {
    let sent_at = SystemTime::now();
    let sent = Instant::now();
    let response = http
        .post(format!("{base}/orders"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("POST failed: {e}"))?;
    let accepted = sent.elapsed();
    if response.status() != StatusCode::ACCEPTED {
        return Err(format!("POST answered {}", response.status()));
    }
    let mut etag = etag_of(&response)?;
    let view: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    let order_id = view["order_id"]
        .as_str()
        .ok_or("no order_id in the 202")?
        .to_owned();
    let url = format!("{base}/orders/{order_id}");
    for _ in 0..MAX_POLLS {
        let left = JOURNEY_LIMIT.saturating_sub(sent.elapsed());
        if left.is_zero() {
            break;
        }
        let response = http
            .get(&url)
            .header(header::IF_NONE_MATCH, &etag)
            .header("Prefer", "wait=30")
            .timeout(left.min(Duration::from_secs(35)))
            .send()
            .await
            .map_err(|e| format!("long poll failed: {e}"))?;
        match response.status() {
            StatusCode::NOT_MODIFIED => continue,
            StatusCode::OK => {
                etag = etag_of(&response)?;
                let view: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
                match view["status"].as_str() {
                    Some("SHIPMENT_SCHEDULED") => {
                        return Ok(Journey {
                            order_id,
                            sent_at,
                            accepted,
                            scheduled: sent.elapsed(),
                            view_updated_at: view["updated_at"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        })
                    }
                    Some("CANCELLED") => return Err(format!("order {order_id} was cancelled")),
                    _ => continue,
                }
            }
            other => return Err(format!("long poll answered {other}")),
        }
    }
    Err(format!(
        "order {order_id} not SHIPMENT_SCHEDULED within {JOURNEY_LIMIT:?}"
    ))
}

fn etag_of(response: &reqwest::Response) -> Result<String, String> {
    response
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| "no ETag".to_owned())
}

/// Journeys started at `per_second` for `duration` (so at most `per_second * duration`),
/// each on its own task; returns them when all have ended.
pub async fn open_loop(
    http: &reqwest::Client,
    base: &str,
    per_second: u64,
    duration: Duration,
) -> (Vec<Journey>, Vec<String>, Duration) {
    let total = (per_second as f64 * duration.as_secs_f64()).round() as usize;
    let base: Arc<str> = base.into();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second as f64));
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    for i in 0..total {
        ticks.tick().await;
        tasks.spawn(journey(http.clone(), base.clone(), order_body(i)));
    }
    let sending = start.elapsed();
    let mut journeys = Vec::with_capacity(total);
    let mut failures = Vec::new();
    // Each journey ends by itself within JOURNEY_LIMIT plus a request timeout.
    while let Some(done) = tasks.join_next().await {
        match done.expect("journey panicked") {
            Ok(j) => journeys.push(j),
            Err(e) => failures.push(e),
        }
    }
    (journeys, failures, sending)
}
