//! Rebuild throughput of `orderflow replay read-model` beside raw consume + decode of the same
//! topics in the same run (target: the rebuild at ≥ 50 % of raw decode).
//!
//! With the infra up: `cargo bench -p orderflow-tests --bench replay`. Knobs: `BENCH_ORDERS`
//! (default 10,000) orders per run, three events each (placed, authorized, scheduled, on the
//! three topics), `BENCH_REPS` (default 3) runs, `BENCH_ROUNDS` (default 3) rounds per run.
//!
//! # One run
//! A fresh database with order-service's tables and a fresh Kafka namespace. The events are
//! written to the outbox and published by the relay, as the services would. Not timed. Then
//! rounds of three measurements of the same log, each round in an order that rotates (a
//! measurement of the default log is short, so one moment of a neighbour's load swings it;
//! rounds are cheap beside publishing):
//! - **Raw consume + decode, one reader**: the tool's reader (by assignment, all partitions of
//!   the three topics from the beginning) and [`Registry::decode`] of every record, nothing
//!   else.
//! - **Raw consume + decode, split as the rebuild**: the same, with the partitions split over
//!   as many readers as the rebuild has workers ([`replay::WORKERS`]), by the rebuild's own
//!   [`replay::split_by_partition`], each a task of its own. The rebuild reads and decodes on
//!   every core; this baseline may too.
//! - **Rebuild**: [`replay::rebuild`] into fresh shadow tables: the same reading and decoding,
//!   plus order-service's projector applying every event and the positions, one transaction
//!   per batch. The indexes the API's queries need are built by the swap, not the rebuild
//!   ([`replay::index_shadow`]); their time is printed beside, untimed.
//!
//! Each is timed from its start to its last record (the rebuild: to its last commit). The
//! target, rebuild ≥ 50 % of raw decode, is judged against both baselines.
//!
//! Beside the rates, the bench prints the median CPU time per event of each, of this process
//! (reading, decoding, the projector's folding) and of PostgreSQL's processes: on a shared
//! machine these move far less than the rates, and they say where a rebuild's time goes.

#[allow(dead_code)] // The charts are the api and scale benches'.
mod common;

use common::{
    knob,
    report::{Report, Target},
    Comparison,
};
use orderflow_cli::{
    cmd::replay::{self, Source},
    kafka::{Kafka, Range, Start},
    settings::{Db, ServiceDb},
};
use orderflow_tests::{fixtures::Isolated, Env};
use platform::{app::Platform, outbox, registry::Registry};
use schemas::{DomainEvent, EventHeader, PaymentAuthorized, ShipmentScheduled, Topic};
use std::sync::Arc;
use tokio::time::Instant;

/// What each round times, in the order of the first round.
#[derive(Clone, Copy)]
enum What {
    Raw,
    RawSplit,
    Rebuild,
}

impl What {
    /// The `n`th measurement of a run of rounds: each round in a rotated order.
    fn nth(n: usize) -> What {
        let round = n / 3;
        [What::Raw, What::RawSplit, What::Rebuild][(n + round) % 3]
    }

    fn name(self) -> &'static str {
        match self {
            What::Raw => "raw, one reader",
            What::RawSplit => "raw, split",
            What::Rebuild => "rebuild",
        }
    }
}

/// CPU seconds used so far by this process and by every PostgreSQL process (Linux `/proc`).
#[derive(Clone, Copy)]
struct Cpu {
    bench: f64,
    postgres: f64,
}

impl Cpu {
    fn now() -> Cpu {
        // utime and stime, the 14th and 15th fields of `/proc/<pid>/stat`, in clock ticks
        // (100 a second on Linux), counted after the parenthesised command name.
        let seconds = |stat: &str| -> Option<(String, f64)> {
            let (head, tail) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_owned();
            let fields: Vec<&str> = tail.split_whitespace().collect();
            let ticks: f64 =
                fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
            Some((name, ticks / 100.0))
        };
        let bench = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| seconds(&s))
            .map_or(0.0, |(_, s)| s);
        let postgres = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
            .filter_map(|stat| seconds(&stat))
            .filter(|(name, _)| name == "postgres")
            .map(|(_, s)| s)
            .sum();
        Cpu { bench, postgres }
    }

    /// Microseconds per event of each since `before`: (this process, PostgreSQL).
    fn per_event(self, before: Cpu, events: u64) -> (f64, f64) {
        let us = |s: f64| s * 1e6 / events as f64;
        (
            us(self.bench - before.bench),
            us(self.postgres - before.postgres),
        )
    }
}

#[tokio::main]
async fn main() {
    let orders = knob("BENCH_ORDERS", 10_000) as usize;
    let reps = knob("BENCH_REPS", 3) as usize;
    let rounds = knob("BENCH_ROUNDS", 3) as usize;
    let env = Env::from_env();
    println!(
        "replay bench: {orders} orders ({} events) per run, {reps} runs of {rounds} rounds (Kafka {})",
        3 * orders,
        env.kafka
    );
    let mut report = Report::start(
        "replay",
        serde_json::json!({"orders": orders, "reps": reps, "rounds": rounds}),
    );
    let mut one = Comparison::new("rebuild", "raw consume+decode, one reader", "ev/s");
    let mut split = Comparison::new(
        "rebuild",
        &format!("raw consume+decode, {} readers", replay::WORKERS),
        "ev/s",
    );
    let mut cpu: [Vec<(f64, f64)>; 3] = Default::default();
    for _ in 0..reps {
        let iso = Isolated::new(env.clone(), &[]).await;
        for rates in run(&iso, orders, rounds, &mut cpu).await {
            let rebuild = rates[What::Rebuild as usize];
            one.system.push(rebuild);
            one.baseline.push(rates[What::Raw as usize]);
            split.system.push(rebuild);
            split.baseline.push(rates[What::RawSplit as usize]);
        }
        common::delete_namespace(&env, &iso.namespace).await;
    }
    for what in [What::Raw, What::RawSplit, What::Rebuild] {
        let (bench, postgres): (Vec<f64>, Vec<f64>) = cpu[what as usize].iter().copied().unzip();
        println!(
            "CPU of {}, medians: this process {:.1} µs/event, PostgreSQL {:.1} µs/event",
            what.name(),
            common::median(&bench),
            common::median(&postgres)
        );
    }
    for comparison in [&one, &split] {
        comparison.print();
        report.add(comparison.row(Target::RatioAtLeast(0.5)));
    }
    report.finish();
}

/// One run of `rounds` rounds: each round's rates in events per second, indexed by [`What`],
/// and the CPU time per event of each measurement added to `cpu` (this process, PostgreSQL).
async fn run(
    iso: &Isolated,
    orders: usize,
    rounds: usize,
    cpu: &mut [Vec<(f64, f64)>; 3],
) -> Vec<[f64; 3]> {
    let settings = iso.settings();
    let platform = Platform::build(settings.clone(), order_service::startup::MIGRATIONS)
        .await
        .expect("database migrated");
    publish(&platform, orders).await;

    let kafka = Kafka::connect(&settings.kafka).expect("Kafka");
    let registry = Arc::new(Registry::new(&settings.registry).expect("registry client"));
    let orders_db = ServiceDb {
        service: "order-service",
        url: settings.database.url.clone(),
    };
    let db = Db::connect(&orders_db).await.expect("database");
    let source = Source {
        kafka: &kafka,
        registry: registry.clone(),
        registry_url: &settings.registry.url,
    };
    let expected = 3 * orders as u64;

    // `readers` readers, each a task reading and decoding its share of the partitions.
    let raw = |readers: usize| {
        let (kafka, registry, settings) = (&kafka, &registry, &settings);
        async move {
            let start = Instant::now();
            let mut ranges: Vec<Range> = Vec::new();
            for topic in Topic::ALL {
                ranges.extend(
                    kafka
                        .ranges(&settings.kafka.topic(topic.name()), Start::Earliest, None)
                        .expect("ranges"),
                );
            }
            let mut tasks = tokio::task::JoinSet::new();
            for share in replay::split_by_partition(ranges, readers) {
                let mut reader = kafka.reader(&share, false).expect("reader");
                let registry = registry.clone();
                tasks.spawn(async move {
                    let mut decoded = 0;
                    while let Some(message) = reader.next().await.expect("read") {
                        // As the rebuild's decoding does, so that the readers share the cores.
                        tokio::task::consume_budget().await;
                        let payload = rdkafka::Message::payload(&message).expect("a value");
                        registry.decode(payload).await.expect("decodes");
                        decoded += 1;
                    }
                    // Closed off the timed path, as the rebuild closes its readers.
                    tokio::task::spawn_blocking(move || drop(reader));
                    decoded
                });
            }
            let mut decoded = 0;
            while let Some(done) = tasks.join_next().await {
                decoded += done.expect("reader task");
            }
            assert_eq!(decoded, expected);
            expected as f64 / start.elapsed().as_secs_f64()
        }
    };
    // As the tool runs it: its own connections, made by the rebuild as it needs them. (One
    // pool shared by every round would make each round slower than the last: PostgreSQL's
    // time per event grows on connections that wrote shadow tables dropped since.)
    let rebuild = || async {
        let shadow = replay::prepare_shadow(&db, order_service::read_model::shadow::tables(), true)
            .await
            .expect("shadow tables");
        let pool = replay::connections(&orders_db, &db).expect("pool");
        let rebuilt = replay::rebuild(&source, &pool, &db, &shadow, Start::Earliest, false)
            .await
            .expect("rebuilt");
        assert_eq!(rebuilt.applied, expected);
        (rebuilt.events_per_sec, shadow, pool)
    };
    let mut rates = vec![[0.0; 3]; rounds];
    let mut indexing = Vec::new();
    // Kept until the run ends: a PostgreSQL backend that exits takes its CPU time out of the
    // sum over `/proc` during whichever measurement follows.
    let mut pools = Vec::new();
    for n in 0..3 * rounds {
        let what = What::nth(n);
        let before = Cpu::now();
        let (rate, rebuilt) = match what {
            What::Raw => (raw(1).await, None),
            What::RawSplit => (raw(replay::WORKERS).await, None),
            What::Rebuild => {
                let (rate, shadow, pool) = rebuild().await;
                (rate, Some((shadow, pool)))
            }
        };
        cpu[what as usize].push(Cpu::now().per_event(before, expected));
        rates[n / 3][what as usize] = rate;
        if let Some((shadow, pool)) = rebuilt {
            let began = Instant::now();
            replay::index_shadow(&pool, &db, shadow.tables())
                .await
                .expect("shadow indexed");
            indexing.push(began.elapsed().as_secs_f64() * 1e3);
            pools.push(pool);
        }
    }
    println!(
        "    rebuilds {:?} ev/s, then the indexes for serving, built by a swap: {:.0} ms (median)",
        rates
            .iter()
            .map(|r| r[What::Rebuild as usize] as u64)
            .collect::<Vec<_>>(),
        common::median(&indexing)
    );
    rates
}

/// Writes `orders` orders' three events to the outbox and lets the relay publish them all.
async fn publish(platform: &Platform, orders: usize) {
    let mut client = platform.pool.get().await.expect("pooled connection");
    for chunk in (0..orders).collect::<Vec<_>>().chunks(500) {
        let tx = outbox::Transaction::begin(&mut client)
            .await
            .expect("transaction");
        for _ in chunk {
            let placed = common::sample_order("bench".into());
            let order_id = placed.header.order_id;
            let events: [DomainEvent; 3] = [
                placed.into(),
                PaymentAuthorized {
                    header: EventHeader::new(order_id),
                    payment_id: uuid::Uuid::new_v4(),
                    amount_cents: 8548,
                    currency: "EUR".into(),
                }
                .into(),
                ShipmentScheduled {
                    header: EventHeader::new(order_id),
                    shipment_id: uuid::Uuid::new_v4(),
                }
                .into(),
            ];
            for event in &events {
                outbox::enqueue(&tx, event).await.expect("outbox row");
            }
        }
        outbox::commit(tx).await.expect("commit");
    }
    let relay = platform.relay();
    let (relay_db, _notifications) = relay.connect().await.expect("relay connection");
    let mut published = 0;
    while published < 3 * orders {
        published += relay.publish_pending(&relay_db).await.expect("published");
    }
}
