//! The platform as a client behind a load balancer sees it: each request goes to one instance
//! of the service picked at random, and a request that found no answer (connection refused by
//! a killed instance, no reply from a paused one, a 502/503 while a dependency restarts, a 408
//! from an instance resumed after a SIGSTOP) is
//! sent again, to any instance, until a deadline. Requests that change something carry what
//! makes them safe to repeat (an `Idempotency-Key`, or a state the retry can check).

use orderflow_tests::services::{Service, Services};
use rand::Rng;
use reqwest::{Method, Response, StatusCode};
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};
use tokio::time::Instant;

/// How long one attempt may take: past it, the instance is taken to be paused or dead.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Between attempts, so a restarting dependency is not hammered.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The base URLs of each service's instances, as the fault schedule adds and removes them.
    instances: Arc<RwLock<HashMap<&'static str, Vec<String>>>>,
}

impl Client {
    pub fn new(services: &Services) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("HTTP client");
        let client = Client {
            http,
            instances: Default::default(),
        };
        client.refresh(services);
        client
    }

    /// Takes the instances that run now (after one was added or removed for good).
    pub fn refresh(&self, services: &Services) {
        let mut instances = self.instances.write().expect("instances lock");
        for service in Service::ALL {
            let urls = services
                .running(service)
                .into_iter()
                .map(|r| services.replica_url(r, ""))
                .collect();
            instances.insert(service.binary(), urls);
        }
    }

    fn pick(&self, service: Service) -> String {
        let instances = self.instances.read().expect("instances lock");
        let urls = &instances[service.binary()];
        urls[rand::rng().random_range(0..urls.len())].clone()
    }

    /// `method path` on some instance of `service`, with `headers` and an optional JSON
    /// `body`, sent until an instance answers something other than 408/502/503/504 or `deadline`
    /// passes (then the last failure, as text).
    pub async fn send(
        &self,
        service: Service,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        deadline: Instant,
    ) -> Result<Response, String> {
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.pick(service)))
                .timeout(ATTEMPT_TIMEOUT);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let failure = match request.send().await {
                Ok(r) if !is_unavailable(r.status()) => return Ok(r),
                Ok(r) => format!("{method} {path}: {}", r.status()),
                Err(e) => format!("{method} {path}: {e}"),
            };
            if Instant::now() + RETRY_PAUSE >= deadline {
                return Err(failure);
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// `GET path` of `service` as JSON, expecting 200, retried like [`Client::send`].
    pub async fn get_json(
        &self,
        service: Service,
        path: &str,
        deadline: Instant,
    ) -> Result<serde_json::Value, String> {
        let response = self
            .send(service, Method::GET, path, &[], None, deadline)
            .await?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(format!("GET {path}: {status}"));
        }
        response
            .json()
            .await
            .map_err(|e| format!("GET {path}: {e}"))
    }
}

/// No answer from the application. 408 included: an instance resumed after a SIGSTOP finds
/// the request timers of its open connections expired before it reads what arrived meanwhile
/// and answers 408 without handling the request, which RFC 9110 (15.5.9) lets a client repeat.
fn is_unavailable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::REQUEST_TIMEOUT
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}
