//! The read queries as the data grows: `GET /orders/{id}`, `GET /orders/{id}/events`
//! and `GET /orders` unfiltered, by customer and by status, at 10,000, 100,000 and 1,000,000
//! orders, beside raw PostgreSQL selecting the same view rows (the GET baseline).
//!
//! `make bench`, or with the infra up: `cargo bench -p orderflow-tests --bench scale`.
//! Knobs: `BENCH_SCALE_SIZES` (`10000,100000,1000000`) the table sizes in orders, ascending;
//! `BENCH_REPS` (3) runs of each figure, `BENCH_CLIENTS` (32) concurrent clients and
//! `BENCH_SECS` (5) seconds per run. `BENCH_SMOKE=1`: one tiny run, nothing judged.
//!
//! order-service runs as a process on a fresh database (the api bench's launcher), and the
//! bench grows its tables in place from one size to the next: orders, their views and the
//! events applied to them, written by `INSERT .. SELECT` over `generate_series`, then
//! `ANALYZE` (seeding notifies nobody: only the projector announces view changes). The statuses are spread as a live system's would be (most orders delivered,
//! 2 % pending), 10,000 customers, one to five events per order.
//!
//! Each size measures, with `BENCH_CLIENTS` closed-loop clients: the raw select of a view row,
//! then the five queries (random orders, customers and statuses; first pages of 50). Runs
//! alternate whether the baseline goes first.

#[allow(dead_code)] // The knobs, report and charts; the sample event is the other benches'.
mod common;
#[allow(dead_code)] // Only the service launch; the gRPC port is the grpc bench's.
#[path = "api/launcher.rs"]
mod launcher;
#[allow(dead_code)] // Only the closed loop and its sample; the journeys are the api bench's.
#[path = "api/load.rs"]
mod load;
#[path = "api/raw_read.rs"]
mod raw_read;

use common::{
    knob, median,
    report::{smoke, Report, Row, Target},
    svg,
};
use launcher::Stack;
use load::{answered, closed_loop, http_client, Sample};
use orderflow_tests::Env;
use raw_read::RawReads;
use reqwest::StatusCode;
use serde_json::json;
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

/// Customers the seeded orders belong to.
const CUSTOMERS: i64 = 10_000;
/// Orders, customers and statuses the clients pick from at each size.
const PICKS: i64 = 1_000;
/// The page size the list queries ask for.
const PAGE: usize = 50;
/// The statuses a live system has, and the lists by status ask for.
const STATUSES: [&str; 6] = [
    "PENDING",
    "PAID",
    "SHIPMENT_SCHEDULED",
    "SHIPPED",
    "DELIVERED",
    "CANCELLED",
];
/// The p99 every query must keep at every size.
const P99_LIMIT_MS: f64 = 20.0;
/// The least ratio of `GET /orders/{id}` to the raw select of its row.
const GET_RATIO: f64 = 0.5;

/// The seeded order `k` (1-based), as every statement below computes it: its id, creation
/// time (10 ms apart, so newer orders have larger `k`), customer, status (by `k % 100`: 2 %
/// PENDING, 3 % CANCELLED, 5 % PAID, 20 % SHIPMENT_SCHEDULED, 30 % SHIPPED, 40 % DELIVERED)
/// and version (= the number of events applied).
const SEEDED: &str = "
    WITH s AS (
        SELECT k, md5('order-' || k)::uuid AS order_id,
               timestamptz '2026-01-01 00:00:00+00' + k * interval '10 ms' AS created_at,
               'customer-' || (k % 10000) AS customer_id,
               CASE WHEN k % 100 < 2 THEN 'PENDING' WHEN k % 100 < 5 THEN 'CANCELLED'
                    WHEN k % 100 < 10 THEN 'PAID' WHEN k % 100 < 30 THEN 'SHIPMENT_SCHEDULED'
                    WHEN k % 100 < 60 THEN 'SHIPPED' ELSE 'DELIVERED' END AS status,
               CASE WHEN k % 100 < 2 THEN 1 WHEN k % 100 < 10 THEN 2 WHEN k % 100 < 30 THEN 3
                    WHEN k % 100 < 60 THEN 4 ELSE 5 END AS version
        FROM generate_series($1::int8 + 1, $2::int8) AS k
    )";

#[tokio::main]
async fn main() {
    let smoke = smoke();
    let sizes = sizes(smoke);
    let reps = knob("BENCH_REPS", if smoke { 1 } else { 3 }) as usize;
    let clients = knob("BENCH_CLIENTS", if smoke { 2 } else { 32 }) as usize;
    let secs = Duration::from_secs(knob("BENCH_SECS", if smoke { 1 } else { 5 }));
    let env = Env::from_env();

    println!("scale bench: building order-service");
    let binaries = launcher::service_binaries();
    let stack = Stack::start(env.clone(), &binaries).await;
    println!(
        "scale bench: services up (database {}, logs in {})",
        stack.iso.database_url,
        stack.log_dir.display()
    );
    let db = connect(&stack.iso.database_url).await;
    let raw = RawReads::connect(&stack.iso.database_url, clients).await;
    let http = http_client(clients);
    let base: Arc<str> = stack.order.url("").into();
    let mut report = Report::start(
        "scale",
        json!({"sizes": sizes, "clients": clients, "seconds": secs.as_secs(), "reps": reps}),
    );

    let mut seeded = 0;
    let mut growth: Vec<(i64, Vec<(String, f64)>)> = Vec::new();
    for &size in &sizes {
        let started = Instant::now();
        grow(&db, seeded, size).await;
        seeded = size;
        println!(
            "scale bench: {} orders seeded ({:.1} s for this step)",
            size,
            started.elapsed().as_secs_f64()
        );
        let picks = Picks::sample(&db, size).await;
        let label = size_label(size);

        let mut raw_rates = Vec::new();
        let mut raw_p99 = Vec::new();
        let mut queries: Vec<(String, Vec<f64>, Vec<f64>)> = QUERIES
            .iter()
            .map(|q| (q.to_string(), Vec::new(), Vec::new()))
            .collect();
        for rep in 0..reps {
            let mut samples = Vec::new();
            let raw_first = rep % 2 == 1;
            if raw_first {
                samples.push(raw.load(&picks.ids, secs).await);
            }
            for (i, query) in QUERIES.iter().enumerate() {
                let sample = query_load(&http, &base, &picks, i, clients, secs).await;
                println!(
                    "{label} run {}/{reps}: {query}: {}",
                    rep + 1,
                    sample.summary()
                );
                // A failed request (a 500, a timeout) would make the figures time failures.
                assert_eq!(
                    sample.errors, 0,
                    "{query} @ {label}: requests failed (see the service's log)"
                );
                queries[i].1.push(sample.rate());
                queries[i].2.push(sample.quantile_ms(0.99));
            }
            if !raw_first {
                samples.push(raw.load(&picks.ids, secs).await);
            }
            let r = samples.pop().expect("the raw run");
            println!(
                "{label} run {}/{reps}: raw PostgreSQL select: {}",
                rep + 1,
                r.summary()
            );
            raw_rates.push(r.rate());
            raw_p99.push(r.quantile_ms(0.99));
        }

        let raw_rate = median(&raw_rates);
        let mut p99s = Vec::new();
        for (i, (query, rates, p99)) in queries.iter().enumerate() {
            report.add(Row {
                figure: format!("{query} @ {label}"),
                unit: "req/s",
                now: median(rates),
                baseline: Some(("raw PostgreSQL select".into(), raw_rate)),
                // Only the read of one order is judged against the raw read of its row.
                target: if i == 0 {
                    Target::RatioAtLeast(GET_RATIO)
                } else {
                    Target::None
                },
            });
            report.add(Row {
                figure: format!("{query} @ {label} p99"),
                unit: "ms",
                now: median(p99),
                baseline: None,
                target: Target::AtMost(P99_LIMIT_MS),
            });
            p99s.push((query.clone(), median(p99)));
        }
        report.add(Row {
            figure: format!("raw PostgreSQL select @ {label} p99"),
            unit: "ms",
            now: median(&raw_p99),
            baseline: None,
            target: Target::None,
        });
        growth.push((size, p99s));
    }

    println!();
    println!("== p99 (ms) as the orders grow ==");
    for (i, query) in QUERIES.iter().enumerate() {
        let cells: Vec<String> = growth
            .iter()
            .map(|(size, p99s)| format!("{} {:.1}", size_label(*size), p99s[i].1))
            .collect();
        println!("{query}: {}", cells.join("  "));
    }
    let chart = svg::beside_baselines(
        &format!("read queries beside a raw PostgreSQL select ({clients} clients)"),
        report.rows(),
    );
    svg::save("scale", &chart);
    let p99_by_size: Vec<(String, Vec<f64>)> = growth
        .iter()
        .map(|(size, p99s)| {
            let values = p99s.iter().map(|(_, p99)| *p99).collect();
            (format!("{} orders", size_label(*size)), values)
        })
        .collect();
    let chart = svg::grouped_bars(
        &format!("p99 of each query as the orders grow ({clients} clients)"),
        "ms",
        &QUERIES.map(String::from),
        &p99_by_size,
        Some(P99_LIMIT_MS),
    );
    svg::save("scale-growth", &chart);
    report.finish();

    drop(db);
    stack.stop().await;
}

/// The figures, in the order they are taken and reported.
const QUERIES: [&str; 5] = [
    "GET /orders/{id}",
    "GET /orders/{id}/events",
    "GET /orders",
    "GET /orders?customer_id",
    "GET /orders?status",
];

/// `BENCH_SCALE_SIZES`, ascending.
fn sizes(smoke: bool) -> Vec<i64> {
    let default = if smoke {
        "1000"
    } else {
        "10000,100000,1000000"
    };
    let text = std::env::var("BENCH_SCALE_SIZES").unwrap_or_else(|_| default.into());
    let sizes: Vec<i64> = text
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("BENCH_SCALE_SIZES={text:?}: {s:?} is not a number"))
        })
        .collect();
    assert!(
        sizes.windows(2).all(|w| w[0] < w[1]) && sizes.first().is_some_and(|s| *s > 0),
        "BENCH_SCALE_SIZES={text:?} must ascend from above 0 (the tables grow)"
    );
    sizes
}

/// `1000000` as `1M`.
fn size_label(size: i64) -> String {
    match size {
        s if s >= 1_000_000 && s % 1_000_000 == 0 => format!("{}M", s / 1_000_000),
        s if s >= 1_000 && s % 1_000 == 0 => format!("{}k", s / 1_000),
        s => s.to_string(),
    }
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("order database reachable");
    tokio::spawn(connection);
    client
}

/// Seeds orders `from + 1 ..= to` with their views and events, then analyzes the tables.
async fn grow(db: &Client, from: i64, to: i64) {
    let items = r#"[{"sku": "SKU-1001", "quantity": 2, "unit_price_cents": 1999},
                    {"sku": "SKU-2002", "quantity": 1, "unit_price_cents": 4550}]"#;
    let statements = [
        format!(
            "{SEEDED}
             INSERT INTO orders (order_id, customer_id, currency, items, total_cents, request,
                                 cancellation_requested, cancelled, created_at)
             SELECT order_id, customer_id, 'EUR', '{items}'::jsonb, 8548,
                    jsonb_build_object('customer_id', customer_id, 'currency', 'EUR',
                                       'items', '{items}'::jsonb),
                    status = 'CANCELLED', status = 'CANCELLED', created_at
             FROM s"
        ),
        format!(
            "{SEEDED}
             INSERT INTO order_views (order_id, status, cancellation_reason, payment_id,
                    payment_status, payment_amount, decline_reason, shipment_id,
                    shipment_status, version, updated_at, order_created_at)
             SELECT order_id, status,
                    CASE WHEN status = 'CANCELLED' THEN 'PAYMENT_DECLINED' END,
                    CASE WHEN version > 1 THEN md5('payment-' || k)::uuid END,
                    CASE WHEN status = 'CANCELLED' THEN 'DECLINED'
                         WHEN version > 1 THEN 'AUTHORIZED' END,
                    CASE WHEN version > 1 THEN 8548 END,
                    CASE WHEN status = 'CANCELLED' THEN 'insufficient funds' END,
                    CASE WHEN version > 2 THEN md5('shipment-' || k)::uuid END,
                    CASE status WHEN 'SHIPMENT_SCHEDULED' THEN 'SCHEDULED'
                                WHEN 'SHIPPED' THEN 'DISPATCHED'
                                WHEN 'DELIVERED' THEN 'DELIVERED' END,
                    version, created_at + version * interval '200 ms', created_at
             FROM s"
        ),
        format!(
            "{SEEDED}
             INSERT INTO order_view_events (order_id, event_id, event_type, topic,
                    kafka_partition, kafka_offset, occurred_at)
             SELECT order_id, md5('event-' || k || '-' || n)::uuid,
                    (ARRAY['orderflow.orders.OrderPlaced', 'orderflow.payments.PaymentAuthorized',
                           'orderflow.shipments.ShipmentScheduled',
                           'orderflow.shipments.ShipmentDispatched',
                           'orderflow.shipments.ShipmentDelivered'])[n],
                    (ARRAY['orders', 'payments', 'shipments', 'shipments', 'shipments'])[n],
                    (k % 6)::int, k, created_at + n * interval '200 ms'
             FROM s, generate_series(1, s.version) AS n"
        ),
    ];
    for sql in &statements {
        db.execute(sql.as_str(), &[&from, &to])
            .await
            .unwrap_or_else(|e| panic!("seeding failed: {e}"));
    }
    db.batch_execute("VACUUM ANALYZE orders, order_views, order_view_events")
        .await
        .expect("tables analyzed");
}

/// What the clients ask for at one size: random seeded orders, their customers, and statuses.
struct Picks {
    ids: Arc<[Uuid]>,
    customers: Arc<[String]>,
}

impl Picks {
    async fn sample(db: &Client, size: i64) -> Self {
        let rows = db
            .query(
                "SELECT md5('order-' || k)::uuid, 'customer-' || (k % $2::int8)
                 FROM (SELECT 1 + (random() * ($1::int8 - 1))::int8 AS k
                       FROM generate_series(1, $3::int8)) AS r",
                &[&size, &CUSTOMERS, &PICKS],
            )
            .await
            .expect("picks sampled");
        Picks {
            ids: rows.iter().map(|r| r.get(0)).collect(),
            customers: rows.iter().map(|r| r.get(1)).collect(),
        }
    }
}

/// `clients` closed-loop clients asking query `which` of [`QUERIES`].
async fn query_load(
    http: &reqwest::Client,
    base: &Arc<str>,
    picks: &Picks,
    which: usize,
    clients: usize,
    duration: Duration,
) -> Sample {
    let (http, base) = (http.clone(), base.clone());
    let (ids, customers) = (picks.ids.clone(), picks.customers.clone());
    closed_loop(clients, duration, move |client, request| {
        // Clients walk the picks from different places, so they ask for different things.
        let n = client * 7919 + request;
        let url = match which {
            0 => format!("{base}/orders/{}", ids[n % ids.len()]),
            1 => format!("{base}/orders/{}/events", ids[n % ids.len()]),
            2 => format!("{base}/orders?limit={PAGE}"),
            3 => format!(
                "{base}/orders?limit={PAGE}&customer_id={}",
                customers[n % customers.len()]
            ),
            _ => format!(
                "{base}/orders?limit={PAGE}&status={}",
                STATUSES[n % STATUSES.len()]
            ),
        };
        answered(http.get(url), StatusCode::OK)
    })
    .await
}
