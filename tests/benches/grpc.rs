//! order-service's gRPC API under load, beside its REST API under the same load in the same
//! run.
//!
//! `make bench`, or with the infra up: `cargo bench -p orderflow-tests --bench grpc`.
//! Knobs: `BENCH_REPS` (3) runs of each figure, `BENCH_CLIENTS` (32) concurrent clients and
//! `BENCH_SECS` (10) seconds per throughput run, `BENCH_STREAMS` (10000) open streams.
//!
//! The three services run as release-build processes (the api bench's launcher) on fresh
//! databases and a fresh Kafka namespace; the load generator runs in this process and shares
//! the machine's cores with everything else.
//!
//! # Figures
//! 1. `GetOrder` calls/s and p99 latency (tonic, one HTTP/2 connection per client), beside
//!    REST `GET /orders/{id}` (reqwest, one keep-alive connection per client) for the same
//!    orders, the two alternating which goes first in each run.
//! 2. order-service's resident memory holding `BENCH_STREAMS` open `WatchOrder` streams (100
//!    per connection, each having received its first view), beside the same process's memory
//!    before the first run; and the memory per stream that first run shows.

#[allow(dead_code)] // The knobs and the comparison; the sample event is the other benches'.
mod common;
#[allow(dead_code)] // The gRPC bench uses the shared launcher, not all of it.
#[path = "api/launcher.rs"]
mod launcher;
#[allow(dead_code)] // Only the closed loop and its sample; the journeys are the api bench's.
#[path = "api/load.rs"]
mod load;

use common::{knob, report::Report, thousands, Comparison};
use launcher::Stack;
use load::{answered, closed_loop, http_client, Sample};
use orderflow_proto::v1::{
    orders_client::OrdersClient, GetOrderRequest, Item, Order, PlaceOrderRequest, WatchOrderRequest,
};
use orderflow_tests::Env;
use reqwest::StatusCode;
use std::{sync::Arc, time::Duration};
use tokio::{task::JoinSet, time::Instant};
use tonic::{transport::Channel, Streaming};

/// Orders read by the throughput runs.
const ORDERS: usize = 200;
/// Streams sharing one HTTP/2 connection (below the server's concurrent-stream limit).
const STREAMS_PER_CONNECTION: usize = 100;
/// How long opening one connection's streams may take.
const OPEN_LIMIT: Duration = Duration::from_secs(60);

#[tokio::main]
async fn main() {
    let reps = knob("BENCH_REPS", 3) as usize;
    let clients = knob("BENCH_CLIENTS", 32) as usize;
    let secs = Duration::from_secs(knob("BENCH_SECS", 10));
    let streams = knob("BENCH_STREAMS", 10_000) as usize;
    let env = Env::from_env();
    let mut report = Report::start(
        "grpc",
        serde_json::json!({
            "clients": clients, "seconds": secs.as_secs(), "reps": reps, "streams": streams,
        }),
    );

    println!("grpc bench: building the services (cargo build --release)");
    let binaries = launcher::service_binaries();
    let stack = Stack::start(env.clone(), &binaries).await;
    let grpc_url = format!("http://127.0.0.1:{}", stack.order_grpc_port);
    println!(
        "grpc bench: services up (namespace {}, logs in {})",
        stack.iso.namespace,
        stack.log_dir.display()
    );

    let mut client = connect(&grpc_url).await;
    let mut order_ids = Vec::with_capacity(ORDERS);
    for i in 0..ORDERS {
        let order = client
            .place_order(PlaceOrderRequest {
                customer_id: format!("bench-grpc-{}", i % 10),
                currency: "EUR".into(),
                items: vec![Item {
                    sku: "SKU-1001".into(),
                    quantity: 2,
                    unit_price_cents: 1999,
                }],
            })
            .await
            .expect("PlaceOrder")
            .into_inner();
        order_ids.push(order.order_id);
    }
    let order_ids: Arc<[String]> = order_ids.into();

    // 1. GetOrder beside GET /orders/{id}.
    let mut rate = Comparison::new("gRPC GetOrder", "REST GET /orders/{id}", "calls/s");
    let mut p99 = Comparison::new("gRPC GetOrder p99", "REST GET p99", "µs");
    let grpc_clients = connect_many(&grpc_url, clients).await;
    let http = http_client(clients);
    let order_base: Arc<str> = stack.order.url("/orders/").into();
    for rep in 0..reps {
        let grpc_run = || {
            let (grpc_clients, ids) = (grpc_clients.clone(), order_ids.clone());
            closed_loop(clients, secs, move |c, r| {
                let mut client = grpc_clients[c].clone();
                let order_id = ids[(c * 7919 + r) % ids.len()].clone();
                async move { client.get_order(GetOrderRequest { order_id }).await.is_ok() }
            })
        };
        let rest_run = || {
            let (http, base, ids) = (http.clone(), order_base.clone(), order_ids.clone());
            closed_loop(clients, secs, move |c, r| {
                let url = format!("{base}{}", ids[(c * 7919 + r) % ids.len()]);
                let request = http.get(url);
                async move { answered(request, StatusCode::OK).await }
            })
        };
        let (grpc, rest): (Sample, Sample) = if rep % 2 == 0 {
            let grpc = grpc_run().await;
            (grpc, rest_run().await)
        } else {
            let rest = rest_run().await;
            (grpc_run().await, rest)
        };
        println!(
            "get run {}/{reps}: gRPC {}\n              REST {}",
            rep + 1,
            grpc.summary(),
            rest.summary()
        );
        rate.system.push(grpc.rate());
        rate.baseline.push(rest.rate());
        p99.system.push(grpc.quantile_ms(0.99) * 1000.0);
        p99.baseline.push(rest.quantile_ms(0.99) * 1000.0);
    }

    // 2. Memory with the streams open. The allocator keeps much of what a run freed, so only
    // the first run starts from the idle process: its growth is what the streams cost. Later
    // runs hold as many streams again; a process that kept growing would be leaking.
    let pid = stack.order.pid();
    let idle = rss_kib(pid) as f64;
    let mut memory = Comparison::new(
        &format!("order-service RSS holding {streams} WatchOrder streams"),
        "idle, before the first run",
        "KiB",
    );
    for rep in 0..reps {
        let started = Instant::now();
        let (connections, held) = open_streams(&grpc_url, &order_ids, streams).await;
        let with_streams = rss_kib(pid) as f64;
        println!(
            "streams run {}/{reps}: {} open in {:.1} s; order-service RSS {} KiB",
            rep + 1,
            held.len(),
            started.elapsed().as_secs_f64(),
            thousands(with_streams),
        );
        memory.system.push(with_streams);
        memory.baseline.push(idle);
        drop(held);
        drop(connections);
    }

    println!("\n=== grpc bench: medians of {reps} runs, {clients} clients, {secs:?} per run ===");
    rate.print();
    p99.print();
    memory.print();
    report.add_all(&[&rate, &p99, &memory]);
    report.finish();
    println!(
        "    first run: {:.1} KiB per open stream",
        (memory.system[0] - idle) / streams as f64
    );
    stack.stop().await;
}

/// Opens `n` `WatchOrder` streams over the orders, [`STREAMS_PER_CONNECTION`] per HTTP/2
/// connection, one connection's worth at a time (so the server's transient work of opening,
/// a read per stream, stays small beside what it holds), and waits for each stream's first
/// view. Returns the connections and the open streams.
async fn open_streams(
    url: &str,
    order_ids: &[String],
    n: usize,
) -> (Arc<[OrdersClient<Channel>]>, Vec<Streaming<Order>>) {
    let connections = connect_many(url, n.div_ceil(STREAMS_PER_CONNECTION)).await;
    let mut held = Vec::with_capacity(n);
    for (c, client) in connections.iter().enumerate() {
        let mut batch = JoinSet::new();
        for i in c * STREAMS_PER_CONNECTION..n.min((c + 1) * STREAMS_PER_CONNECTION) {
            let mut client = client.clone();
            let order_id = order_ids[i % order_ids.len()].clone();
            batch.spawn(async move {
                let mut stream = client
                    .watch_order(WatchOrderRequest { order_id })
                    .await
                    .expect("WatchOrder opens")
                    .into_inner();
                stream
                    .message()
                    .await
                    .expect("the first view")
                    .expect("a view");
                stream
            });
        }
        while let Some(stream) = tokio::time::timeout(OPEN_LIMIT, batch.join_next())
            .await
            .expect("the streams opened in time")
        {
            held.push(stream.expect("stream task"));
        }
    }
    (connections, held)
}

async fn connect(url: &str) -> OrdersClient<Channel> {
    OrdersClient::connect(url.to_owned())
        .await
        .unwrap_or_else(|e| panic!("gRPC {url} unreachable: {e}"))
}

/// `n` clients, each on its own HTTP/2 connection.
async fn connect_many(url: &str, n: usize) -> Arc<[OrdersClient<Channel>]> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(connect(url).await);
    }
    clients.into()
}

/// The resident set size of process `pid`, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}
