//! The REST API under load, beside baselines run in the same process and run.
//!
//! `make bench`, or with the infra up: `cargo bench -p orderflow-tests --bench api`.
//! Knobs: `BENCH_REPS` (3) runs of each figure, `BENCH_CLIENTS` (32) concurrent clients and
//! `BENCH_SECS` (10) seconds per throughput run, `BENCH_E2E_RATE` (100) orders/s for
//! `BENCH_E2E_SECS` (20) seconds per latency run, `BENCH_SWEEP_SECS` (10) seconds per step of
//! the rate sweep up to `BENCH_SWEEP_MAX` (3200) orders/s (`0` skips the sweep).
//!
//! The three services run as release-build processes (see [`launcher`]) on fresh databases
//! and a fresh Kafka namespace, with their default settings; the load generator (reqwest) and
//! the baselines run in this process. Everything shares the machine's cores with PostgreSQL,
//! Kafka and the registry, so the figures are of the whole stack on one box.
//!
//! # Phases
//! 1. Warm-up: a few orders placed and followed to `SHIPMENT_SCHEDULED`, so schemas are
//!    registered and every consumer group has joined; then `BENCH_WARM_UP_SECS` (10) of the
//!    latency run's load, not counted, and `ANALYZE` of the three databases, so the figures
//!    are of tables with statistics, as a running system's are.
//! 2. End-to-end latency: orders placed at a steady rate; each is long-polled
//!    (`If-None-Match` + `Prefer: wait=30`) until it reads `SHIPMENT_SCHEDULED`. Latency from
//!    sending the POST to reading that status, and where it went (see [`hops`]) for a sample of
//!    the orders and for the slowest 1 %, which the p99 is made of.
//!
//!    Then a rate sweep: the same open loop at rising rates (x1.5 from `BENCH_E2E_RATE`), one
//!    run each, until a rate cannot be sent, loses orders or has a p99 above
//!    [`SUSTAINED_P99_MS`]: the highest rate before it is the highest steady rate.
//! 3. `GET /orders/{id}` throughput (orders of phase 2, no `If-None-Match`: 200 with the
//!    view), beside the same load on a bare actix-web server, and beside raw PostgreSQL
//!    running the service's select of the same view rows at the same concurrency (see
//!    [`raw_read`]; target: GET at least half of it).
//! 4. `POST /orders` throughput, beside a bare actix-web `POST` and raw PostgreSQL writing the
//!    same order row and outbox row in one transaction (prepared statements, a connection per
//!    client), with and without a NOTIFY trigger on the outbox (the service has none:
//!    PostgreSQL serializes the commits of notifying transactions, and this row shows what
//!    that costs). The "raw PostgreSQL tx" row is the one with the trigger. After each run of
//!    the service the bench waits for the flow to catch up (every accepted order `SHIPMENT_SCHEDULED`) before the next
//!    measurement, and reports how fast the three services worked through that backlog.
//!
//! Within each run the system and its baselines swap order every other run. During phases 2
//! and 4 the CPU time of each process group is recorded (see [`cpu`]), a map of where the time
//! goes on the box. Each service's resident memory is read when idle after the warm-up and,
//! as its peak, after phase 4 (see [`memory`]).

#[path = "api/baseline.rs"]
mod baseline;
#[allow(dead_code)] // The sample event is the other benches'.
mod common;
#[path = "api/cpu.rs"]
mod cpu;
#[path = "api/hops.rs"]
mod hops;
#[path = "api/launcher.rs"]
mod launcher;
#[path = "api/load.rs"]
mod load;
#[path = "api/memory.rs"]
mod memory;
#[path = "api/raw_read.rs"]
mod raw_read;

use baseline::{BareServer, RawPostgres};
use common::{
    knob, median,
    report::{Report, Target},
    svg, Comparison,
};
use cpu::{CpuMeter, Usage};
use launcher::Stack;
use load::{answered, closed_loop, http_client, order_body, Sample};
use orderflow_tests::Env;
use raw_read::RawReads;
use reqwest::{header, StatusCode};
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;

/// How long the flow may take to catch up after a POST run.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);
/// Orders of the warm-up, placed one after the other.
const WARM_UP_ORDERS: usize = 5;
/// Orders per latency run whose events are read to see where the time went.
const HOPS_SAMPLE: usize = 50;
/// The end-to-end p99 a rate of the sweep must stay within to count as steady.
const SUSTAINED_P99_MS: f64 = 250.0;
/// Each step of the sweep places this many times the orders per second of the one before.
const SWEEP_STEP: f64 = 1.5;

#[tokio::main]
async fn main() {
    let reps = knob("BENCH_REPS", 3) as usize;
    let clients = knob("BENCH_CLIENTS", 32) as usize;
    let secs = Duration::from_secs(knob("BENCH_SECS", 10));
    let e2e_rate = knob("BENCH_E2E_RATE", 100);
    let e2e_secs = Duration::from_secs(knob("BENCH_E2E_SECS", 20));
    let sweep_secs = Duration::from_secs(knob("BENCH_SWEEP_SECS", 10));
    let sweep_max = knob("BENCH_SWEEP_MAX", 3200);
    let warm_up_secs = Duration::from_secs(knob("BENCH_WARM_UP_SECS", 10));
    let env = Env::from_env();

    println!("api bench: building the services (cargo build --release)");
    let binaries = launcher::service_binaries();
    let stack = Stack::start(env.clone(), &binaries).await;
    println!(
        "api bench: services up (namespace {}, logs in {})",
        stack.iso.namespace,
        stack.log_dir.display()
    );
    let bare = BareServer::start();
    let raw = RawPostgres::create(&env, true).await;
    let raw_quiet = RawPostgres::create(&env, false).await;
    let raw_reads = RawReads::connect(&stack.iso.database_url, clients).await;
    let mut report = Report::start(
        "api",
        serde_json::json!({
            "clients": clients, "seconds": secs.as_secs(), "reps": reps,
            "e2e_rate": e2e_rate, "e2e_seconds": e2e_secs.as_secs(),
        }),
    );
    let http = http_client(clients);
    let order_base = stack.order.url("");
    let processes = vec![
        ("order-service", stack.order.pid()),
        ("payment-service", stack.payment.pid()),
        ("shipping-service", stack.shipping.pid()),
        ("bench (load generator)", std::process::id()),
    ];

    // 1. Warm-up.
    for i in 0..WARM_UP_ORDERS {
        if let Err(e) = load::journey(http.clone(), order_base.as_str().into(), order_body(i)).await
        {
            panic!("warm-up order failed: {e}");
        }
    }
    // Then the latency run's load, not counted, and statistics of the tables it grew.
    let (warmed, _, _) = load::open_loop(&http, &order_base, e2e_rate, warm_up_secs).await;
    stack.analyze().await;
    println!(
        "api bench: warmed up ({} orders at {e2e_rate}/s, not counted; then ANALYZE)",
        warmed.len()
    );
    // Idle: the warm-up's work done, nothing arriving.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_mib: Vec<f64> = processes[..3]
        .iter()
        .map(|(_, pid)| memory::resident_mib(*pid).0)
        .collect();

    // 2. End-to-end latency at a steady rate.
    let mut e2e_p50 = Vec::new();
    let mut e2e_p99 = Vec::new();
    let mut post_p50 = Vec::new();
    let mut post_p99 = Vec::new();
    let mut e2e_stages: [Vec<f64>; 8] = Default::default();
    let reader = hops::Reader::new(&env.kafka);
    let mut e2e_cpu = Vec::new();
    let mut order_ids = Vec::new();
    let mut e2e_latencies = Vec::new();
    let mut failed = 0;
    for rep in 0..reps {
        let meter = CpuMeter::start(processes.clone());
        let (journeys, failures, sending) =
            load::open_loop(&http, &order_base, e2e_rate, e2e_secs).await;
        let usage = meter.stop();
        let scheduled = Sample::new(journeys.iter().map(|j| j.scheduled).collect(), 0, sending);
        let accepted = Sample::new(journeys.iter().map(|j| j.accepted).collect(), 0, sending);
        println!(
            "e2e run {}/{reps}: {} orders in {:.1} s ({:.0}/s), {} failed; to SHIPMENT_SCHEDULED \
             p50 {:.1} ms p99 {:.1} ms; POST p50 {:.2} ms p99 {:.2} ms",
            rep + 1,
            journeys.len() + failures.len(),
            sending.as_secs_f64(),
            (journeys.len() + failures.len()) as f64 / sending.as_secs_f64(),
            failures.len(),
            scheduled.quantile_ms(0.5),
            scheduled.quantile_ms(0.99),
            accepted.quantile_ms(0.5),
            accepted.quantile_ms(0.99),
        );
        println!("    CPU: {}", usage.line());
        e2e_cpu.push(usage);
        for f in failures.iter().take(3) {
            println!("    failure: {f}");
        }
        failed += failures.len();
        // Where the time went, for an evenly spread sample of the orders.
        let step = journeys.len().div_ceil(HOPS_SAMPLE).max(1);
        let stages = breakdown(&reader, &http, &order_base, journeys.iter().step_by(step)).await;
        // And for the slowest 1 % (at least 3): what the p99 is made of.
        let mut slowest: Vec<&load::Journey> = journeys.iter().collect();
        slowest.sort_by_key(|j| std::cmp::Reverse(j.scheduled));
        slowest.truncate((journeys.len() / 100).max(3));
        let tail = breakdown(&reader, &http, &order_base, slowest.into_iter()).await;
        println!(
            "    stages of the slowest {} orders (median ms): {}",
            tail[0].len(),
            tail.iter()
                .map(|v| format!("{:.0}", median(v)))
                .collect::<Vec<_>>()
                .join(" / ")
        );
        let mut medians = Vec::new();
        for (i, values) in stages.iter().enumerate() {
            if !values.is_empty() {
                e2e_stages[i].push(median(values));
                medians.push(format!("{:.0}", median(values)));
            }
        }
        println!(
            "    stages (median ms of {} orders): {}",
            stages[0].len(),
            medians.join(" / ")
        );
        e2e_latencies.extend(scheduled.latencies.iter().map(|d| d.as_secs_f64() * 1000.0));
        e2e_p50.push(scheduled.quantile_ms(0.5));
        e2e_p99.push(scheduled.quantile_ms(0.99));
        post_p50.push(accepted.quantile_ms(0.5));
        post_p99.push(accepted.quantile_ms(0.99));
        order_ids.extend(journeys.into_iter().map(|j| j.order_id));
    }
    assert!(!order_ids.is_empty(), "no order reached SHIPMENT_SCHEDULED");
    let steps = sweep(&http, &order_base, e2e_rate, sweep_max, sweep_secs).await;

    // 3. GET /orders/{id}.
    let order_ids: Arc<[String]> = order_ids.into();
    let mut get = Comparison::new("GET /orders/{id}", "bare actix GET", "req/s");
    let mut get_raw = Comparison::new("GET /orders/{id}", "raw PostgreSQL select", "req/s");
    let mut get_samples = Vec::new();
    let mut bare_get_samples = Vec::new();
    let mut raw_get_samples = Vec::new();
    let read_ids: Arc<[uuid::Uuid]> = order_ids
        .iter()
        .map(|id| id.parse().expect("order ids are UUIDs"))
        .collect();
    for rep in 0..reps {
        let service = || get_load(&http, &order_base, &order_ids, clients, secs);
        let bare_base = bare.url("");
        let baseline = || get_load(&http, &bare_base, &order_ids, clients, secs);
        let (s, b) = interleaved(rep, service, baseline).await;
        let r = raw_reads.load(&read_ids, secs).await;
        println!(
            "GET run {}/{reps}: service {}; bare {}; raw PostgreSQL select {}",
            rep + 1,
            s.summary(),
            b.summary(),
            r.summary()
        );
        get.system.push(s.rate());
        get.baseline.push(b.rate());
        get_raw.system.push(s.rate());
        get_raw.baseline.push(r.rate());
        raw_get_samples.push(r);
        get_samples.push(s);
        bare_get_samples.push(b);
    }

    // 4. POST /orders.
    let mut post_bare = Comparison::new("POST /orders", "bare actix POST", "orders/s");
    let mut post_raw = Comparison::new("POST /orders", "raw PostgreSQL tx", "orders/s");
    let mut post_quiet = Comparison::new(
        "POST /orders",
        "raw PostgreSQL tx without the NOTIFY trigger",
        "orders/s",
    );
    let mut post_samples = Vec::new();
    let mut bare_post_samples = Vec::new();
    let mut raw_samples = Vec::new();
    let mut quiet_samples = Vec::new();
    let mut post_cpu = Vec::new();
    let mut drains = Vec::new();
    let db = order_database(&stack).await;
    for rep in 0..reps {
        let service = || async {
            let started = Instant::now();
            let before = placed(&db).await;
            let meter = CpuMeter::start(processes.clone());
            let sample = post_load(&http, &order_base, clients, secs).await;
            let usage = meter.stop();
            let drain = drain(&db, started, placed(&db).await - before).await;
            (sample, drain, usage)
        };
        let bare_base = bare.url("");
        let baseline = || post_load(&http, &bare_base, clients, secs);
        let ((s, d, usage), b) = interleaved(rep, service, baseline).await;
        drains.push(d);
        let r = raw_load(&raw, clients, secs).await;
        let q = raw_load(&raw_quiet, clients, secs).await;
        println!(
            "POST run {}/{reps}: service {}; bare {}; raw PostgreSQL {}; without NOTIFY {}",
            rep + 1,
            s.summary(),
            b.summary(),
            r.summary(),
            q.summary()
        );
        println!("    CPU during the service's run: {}", usage.line());
        post_cpu.push(usage);
        post_quiet.system.push(s.rate());
        post_quiet.baseline.push(q.rate());
        quiet_samples.push(q);
        post_bare.system.push(s.rate());
        post_bare.baseline.push(b.rate());
        post_raw.system.push(s.rate());
        post_raw.baseline.push(r.rate());
        post_samples.push(s);
        bare_post_samples.push(b);
        raw_samples.push(r);
    }

    println!();
    println!(
        "== api: {clients} clients x {} s per throughput run, {e2e_rate} orders/s x {} s per \
         latency run, medians of {reps} runs ==",
        secs.as_secs(),
        e2e_secs.as_secs()
    );
    post_bare.print();
    post_raw.print();
    post_quiet.print();
    print_latency("POST /orders latency", &post_samples);
    print_latency("bare actix POST latency", &bare_post_samples);
    print_latency("raw PostgreSQL tx latency", &raw_samples);
    print_latency("raw PostgreSQL tx without NOTIFY latency", &quiet_samples);
    println!(
        "    CPU (% of one core) during POST /orders runs: {}",
        Usage::median_of(&post_cpu)
    );
    get.print();
    get_raw.print();
    print_latency("GET /orders/{id} latency", &get_samples);
    print_latency("bare actix GET latency", &bare_get_samples);
    print_latency("raw PostgreSQL select latency", &raw_get_samples);
    println!(
        "POST -> SHIPMENT_SCHEDULED (long poll) at {e2e_rate}/s: p50 {:.1} ms  p99 {:.1} ms  \
         ({failed} orders failed)",
        median(&e2e_p50),
        median(&e2e_p99)
    );
    println!(
        "    CPU (% of one core) at {e2e_rate} orders/s: {}",
        Usage::median_of(&e2e_cpu)
    );
    for (stage, values) in hops::STAGES.iter().zip(&e2e_stages) {
        if !values.is_empty() {
            println!("    {stage}: median {:.1} ms", median(values));
        }
    }
    println!(
        "POST /orders latency at {e2e_rate}/s: p50 {:.2} ms  p99 {:.2} ms",
        median(&post_p50),
        median(&post_p99)
    );
    for (rep, d) in drains.iter().enumerate() {
        println!(
            "flow after POST run {}: {} orders SHIPMENT_SCHEDULED {:.1} s after the load ended; \
             {:.0} orders/s through all three services",
            rep + 1,
            d.orders,
            d.after_load.as_secs_f64(),
            d.orders as f64 / d.total.as_secs_f64()
        );
    }

    print_sweep(&steps);
    for ((name, pid), idle) in processes[..3].iter().zip(&idle_mib) {
        println!(
            "{name} resident memory: idle {idle:.1} MiB, peak under load {:.1} MiB",
            memory::resident_mib(*pid).1
        );
    }
    for comparison in [&post_bare, &post_raw, &post_quiet, &get] {
        report.add(comparison.row(Target::None));
    }
    report.add(get_raw.row(Target::RatioAtLeast(0.5)));
    report.add(common::report::Row {
        figure: "GET /orders/{id} p99".into(),
        unit: "ms",
        now: median(&quantiles(&get_samples, 0.99)),
        baseline: Some((
            "raw PostgreSQL select p99".into(),
            median(&quantiles(&raw_get_samples, 0.99)),
        )),
        target: Target::AtMost(10.0),
    });
    report.add(common::report::Row {
        figure: format!("POST -> SHIPMENT_SCHEDULED p99 at {e2e_rate}/s"),
        unit: "ms",
        now: median(&e2e_p99),
        baseline: None,
        target: Target::None,
    });
    svg::save(
        "api-e2e",
        &svg::latency_distribution(
            &format!("POST -> SHIPMENT_SCHEDULED at {e2e_rate} orders/s, {reps} runs"),
            &e2e_latencies,
        ),
    );
    svg::save(
        "api",
        &svg::beside_baselines(
            &format!("REST API beside its baselines ({clients} clients)"),
            report.rows(),
        ),
    );
    report.finish();

    drop(db);
    bare.stop().await;
    raw.drop_database(&env).await;
    raw_quiet.drop_database(&env).await;
    stack.stop().await;
}

/// One rate of the sweep: the rate asked, the rate sent, the end-to-end latencies, the orders
/// that failed.
struct Step {
    rate: u64,
    sent: f64,
    scheduled: Sample,
    failed: usize,
}

impl Step {
    /// Whether the stack kept up: everything sent at the rate asked and carried through, with
    /// a p99 within [`SUSTAINED_P99_MS`].
    fn steady(&self) -> bool {
        self.failed == 0
            && self.sent >= 0.95 * self.rate as f64
            && self.scheduled.quantile_ms(0.99) <= SUSTAINED_P99_MS
    }
}

/// Open loops at rising rates from `from` (x[`SWEEP_STEP`]) up to `max`, until one is not
/// [`Step::steady`]. Each loop ends when all its orders have, so every step starts idle.
async fn sweep(
    http: &reqwest::Client,
    base: &str,
    from: u64,
    max: u64,
    secs: Duration,
) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut rate = from;
    while rate <= max && steps.last().is_none_or(Step::steady) {
        let (journeys, failures, sending) = load::open_loop(http, base, rate, secs).await;
        let sent = (journeys.len() + failures.len()) as f64 / sending.as_secs_f64();
        let scheduled = Sample::new(journeys.iter().map(|j| j.scheduled).collect(), 0, sending);
        println!(
            "sweep {rate} orders/s: sent {sent:.0}/s, {} failed; to SHIPMENT_SCHEDULED p50 \
             {:.1} ms p99 {:.1} ms",
            failures.len(),
            scheduled.quantile_ms(0.5),
            scheduled.quantile_ms(0.99),
        );
        steps.push(Step {
            rate,
            sent,
            scheduled,
            failed: failures.len(),
        });
        rate = (rate as f64 * SWEEP_STEP).round() as u64;
    }
    steps
}

fn print_sweep(steps: &[Step]) {
    let Some(last) = steps.last() else {
        return;
    };
    let steady = steps.iter().take_while(|s| s.steady()).last();
    let highest = steady.map_or("none".to_owned(), |s| {
        format!(
            "{} orders/s (p50 {:.1} ms, p99 {:.1} ms)",
            s.rate,
            s.scheduled.quantile_ms(0.5),
            s.scheduled.quantile_ms(0.99)
        )
    });
    println!("highest steady rate with p99 <= {SUSTAINED_P99_MS} ms: {highest}");
    if !last.steady() {
        println!(
            "    next step {} orders/s: sent {:.0}/s, {} failed, p99 {:.1} ms",
            last.rate,
            last.sent,
            last.failed,
            last.scheduled.quantile_ms(0.99)
        );
    }
}

/// Runs `service` and `baseline` one after the other, the baseline first every other run.
async fn interleaved<S, B, SF, BF>(rep: usize, service: S, baseline: B) -> (SF::Output, BF::Output)
where
    S: FnOnce() -> SF,
    B: FnOnce() -> BF,
    SF: std::future::Future,
    BF: std::future::Future,
{
    if rep.is_multiple_of(2) {
        let s = service().await;
        (s, baseline().await)
    } else {
        let b = baseline().await;
        (service().await, b)
    }
}

/// The `q` quantile (ms) of each sample.
fn quantiles(samples: &[Sample], q: f64) -> Vec<f64> {
    samples.iter().map(|s| s.quantile_ms(q)).collect()
}

fn print_latency(label: &str, samples: &[Sample]) {
    println!(
        "    {label}: p50 {:.2} ms  p99 {:.2} ms",
        median(&quantiles(samples, 0.5)),
        median(&quantiles(samples, 0.99))
    );
}

async fn get_load(
    http: &reqwest::Client,
    base: &str,
    ids: &Arc<[String]>,
    clients: usize,
    duration: Duration,
) -> Sample {
    let (http, base, ids) = (http.clone(), Arc::<str>::from(base), ids.clone());
    closed_loop(clients, duration, move |client, request| {
        // Clients walk the ids from different places, so they ask for different orders.
        let id = &ids[(client * 7919 + request) % ids.len()];
        answered(http.get(format!("{base}/orders/{id}")), StatusCode::OK)
    })
    .await
}

async fn post_load(
    http: &reqwest::Client,
    base: &str,
    clients: usize,
    duration: Duration,
) -> Sample {
    let (http, url) = (http.clone(), Arc::<str>::from(format!("{base}/orders")));
    closed_loop(clients, duration, move |client, _| {
        answered(
            http.post(&*url)
                .header(header::CONTENT_TYPE, "application/json")
                .body(order_body(client)),
            StatusCode::ACCEPTED,
        )
    })
    .await
}

/// `clients` connections each writing orders back to back, as [`post_load`] on the service.
async fn raw_load(raw: &RawPostgres, clients: usize, duration: Duration) -> Sample {
    let mut writers = Vec::with_capacity(clients);
    for _ in 0..clients {
        writers.push(Arc::new(tokio::sync::Mutex::new(raw.connect().await)));
    }
    let writers: Arc<[_]> = writers.into();
    closed_loop(clients, duration, move |client, _| {
        let writer = writers[client].clone();
        async move {
            let body: serde_json::Value =
                serde_json::from_str(&order_body(client)).expect("order JSON");
            writer.lock().await.place(&body).await
        }
    })
    .await
}

/// A connection to the order-service's database, to see how far the flow got.
async fn order_database(stack: &Stack) -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&stack.iso.database_url, tokio_postgres::NoTls)
            .await
            .expect("order database reachable");
    tokio::spawn(connection);
    client
}

/// Orders accepted so far.
async fn placed(db: &tokio_postgres::Client) -> i64 {
    db.query_one("SELECT count(*) FROM orders", &[])
        .await
        .expect("orders counted")
        .get(0)
}

/// How the flow caught up after a POST run.
struct Drain {
    orders: i64,
    /// From the end of the load until every order was `SHIPMENT_SCHEDULED`.
    after_load: Duration,
    /// From the start of the load until then.
    total: Duration,
}

/// Waits until no accepted order is short of `SHIPMENT_SCHEDULED` (at most [`DRAIN_LIMIT`]).
async fn drain(db: &tokio_postgres::Client, started: Instant, orders: i64) -> Drain {
    let load_ended = Instant::now();
    loop {
        let behind: i64 = db
            .query_one(
                "SELECT count(*) FROM orders o LEFT JOIN order_views v USING (order_id)
                 WHERE v.status IS DISTINCT FROM 'SHIPMENT_SCHEDULED'",
                &[],
            )
            .await
            .expect("progress counted")
            .get(0);
        if behind == 0 {
            break;
        }
        assert!(
            load_ended.elapsed() < DRAIN_LIMIT,
            "{behind} orders still short of SHIPMENT_SCHEDULED {DRAIN_LIMIT:?} after the load"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Drain {
        orders,
        after_load: load_ended.elapsed(),
        total: started.elapsed(),
    }
}

/// Milliseconds in each of [`hops::STAGES`] for each of `journeys` (one list per stage).
async fn breakdown<'a>(
    reader: &hops::Reader,
    http: &reqwest::Client,
    base: &str,
    journeys: impl Iterator<Item = &'a load::Journey>,
) -> [Vec<f64>; 8] {
    let mut stages: [Vec<f64>; 8] = Default::default();
    for journey in journeys {
        match reader.hops(http, base, journey).await {
            Ok(h) => {
                for (i, ms) in h.into_iter().enumerate() {
                    stages[i].push(ms);
                }
            }
            Err(e) => println!("    no breakdown: {e}"),
        }
    }
    stages
}
