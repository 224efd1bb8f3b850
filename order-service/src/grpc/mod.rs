//! The gRPC API of order-service: package `orderflow.v1`, service `Orders` (the contract is
//! `schemas/proto/orderflow/v1/orders.proto`), beside the REST API and over the same
//! [`crate::core`]: both check input by the same rules and run the same use cases.
//!
//! - [`orders`]: the handlers, thin: convert the request, call the core, convert the result.
//! - [`watch`]: `WatchOrder`'s server stream.
//! - [`convert`]: protobuf messages to and from the core's types.
//! - [`status`]: the one place core errors and invalid fields become gRPC statuses.
//!
//! [`serve`] runs tonic (HTTP/2) on its own port with the standard health service
//! (`grpc.health.v1`: `orderflow.v1.Orders` follows the readiness checks of `/health/ready`
//! every 5 s and is NOT_SERVING from shutdown on) and server reflection (v1
//! and v1alpha, so `grpcurl` needs no proto file). Every call gets a span that continues the
//! caller's `traceparent` metadata exactly as the REST middleware continues the header, so
//! the events a call causes carry the caller's trace. A client's `grpc-timeout` is honoured:
//! tonic drops a unary call whose deadline passes (and with it its open transaction, so nothing
//! is half-written) and answers CANCELLED; `WatchOrder` ends with DEADLINE_EXCEEDED.

pub mod convert;
pub mod orders;
pub mod status;
pub mod watch;

use crate::{settings::GrpcSettings, watch::Watchers};
use orderflow_proto::v1::orders_server::OrdersServer;
use platform::{db::Pool, http::Readiness};
use std::{sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{codegen::http, transport::server::TcpIncoming};

/// What the handlers share: the same handles as the REST API's.
#[derive(Clone)]
pub struct OrdersApi {
    pub pool: Pool,
    pub watchers: Arc<Watchers>,
}

/// Binds the gRPC port (`grpc.host`, else `http_host`), before the service reports ready.
pub async fn bind(settings: &GrpcSettings, http_host: &str) -> std::io::Result<TcpListener> {
    let host = settings.host.as_deref().unwrap_or(http_host);
    let listener = TcpListener::bind((host, settings.port))
        .await
        .map_err(|e| {
            std::io::Error::new(e.kind(), format!("gRPC {host}:{}: {e}", settings.port))
        })?;
    tracing::info!(port = listener.local_addr()?.port(), "gRPC listening");
    Ok(listener)
}

/// Serves the gRPC API on `listener` until `shutdown`, then lets calls in flight finish (open
/// `WatchOrder` streams end as the watchers close).
pub async fn serve(
    listener: TcpListener,
    api: OrdersApi,
    max_message_bytes: usize,
    readiness: Readiness,
    shutdown: CancellationToken,
) {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<OrdersServer<OrdersApi>>().await;
    let follower = tokio::spawn(follow_readiness(
        health.clone(),
        readiness,
        shutdown.clone(),
    ));
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(orderflow_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .expect("the compiled descriptor sets are valid");
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("the compiled descriptor sets are valid");
    let orders = OrdersServer::new(api).max_decoding_message_size(max_message_bytes);
    let served = tonic::transport::Server::builder()
        .trace_fn(call_span)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(orders)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), async move {
            shutdown.cancelled().await;
            health.set_not_serving::<OrdersServer<OrdersApi>>().await;
        })
        .await;
    follower.abort();
    if let Err(e) = served {
        tracing::error!(error = %platform::error_chain(&e), "gRPC server stopped");
    }
}

/// How often the gRPC health status is brought in line with the readiness checks.
const READINESS_INTERVAL: Duration = Duration::from_secs(5);

/// Keeps `orderflow.v1.Orders`' health what `/health/ready` would answer (PostgreSQL, Kafka,
/// the registry), so a gRPC client or load balancer sees NOT_SERVING while this instance cannot
/// do its work. Stops at shutdown, which leaves it NOT_SERVING.
async fn follow_readiness(
    health: tonic_health::server::HealthReporter,
    readiness: Readiness,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(READINESS_INTERVAL);
    loop {
        ticks.tick().await;
        let ready = readiness.checks().await.iter().all(|(_, r)| r.is_ok());
        if shutdown.is_cancelled() {
            return;
        }
        if ready {
            health.set_serving::<OrdersServer<OrdersApi>>().await;
        } else {
            health.set_not_serving::<OrdersServer<OrdersApi>>().await;
        }
    }
}

/// The span of one call, continuing the caller's `traceparent`.
fn call_span(request: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!("grpc_call", path = %request.uri().path());
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    platform::telemetry::continue_trace(&span, traceparent);
    span
}
