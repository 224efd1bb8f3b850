//! Relay and consumer throughput, each beside raw rdkafka on the same broker in the same run.
//!
//! `make bench`, or with the infra up: `cargo bench -p orderflow-tests --bench pipeline`.
//! Knobs: `BENCH_EVENTS` (default 20000) events per run, `BENCH_REPS` (default 3) runs,
//! `BENCH_RELAY_BATCH` (default: the relay's default `batch_size`) rows per relay pass,
//! `BENCH_CONSUMER_BATCH` (default: the consumers' default `batch_size`) events per consumer
//! transaction,
//! `BENCH_ANALYZE=1` to `ANALYZE outbox` after writing the rows (by default the relay meets
//! them as it would after an outage: before autovacuum has refreshed the statistics).
//!
//! # One run
//! A fresh database and Kafka namespace (three partitions per topic, as the services have).
//! 1. `N` `OrderPlaced` events, each about its own order, are written to the outbox through
//!    [`outbox::enqueue`] in transactions of [`WRITE_BATCH`]. Not timed.
//! 2. **Relay**: `publish_pending` on the relay's own dedicated connection until every row is
//!    marked published: the loop `Relay::run` goes through while batches come back full,
//!    without its NOTIFY wait, so the figure is the relay's pace and not a wake-up latency.
//! 3. **Raw producer**: the same values (Confluent-framed, the same schema id), keys and
//!    headers, produced with [`platform::kafka::producer`]'s configuration (idempotent,
//!    `acks=all`, same linger and compression) to a fresh topic of the same broker: enqueue
//!    everything, then await every delivery report.
//!
//!    Both producers have sent one message before their clock starts, so neither pays for
//!    connecting or for the producer id. Steps 2 and 3 swap places every other run.
//! 4. **Where the relay's time goes**: `N` more rows, published by the three steps of
//!    `publish_pending` called one by one (`fetch_pending`, `publish`, `delete_published`), each
//!    timed. The sum is a second relay figure; the shares say which step to work on.
//! 5. **Consumers** read the relay's topic from the beginning (`2N + 1` events), one fresh
//!    group each: raw `StreamConsumer` (no decoding), raw + [`Registry::decode`], and two
//!    [`platform::consumer::ConsumerGroup`]s, one whose handler does nothing (what the
//!    platform costs: decoding, the inbox, the transaction, offsets) and one with the fixtures'
//!    `Recorder` (plus one insert per event, a minimal real handler). The raw readers assign
//!    the partitions themselves and are timed from the assignment to their last message. A
//!    group is timed from its first handler call to the inbox holding every event, so joining
//!    the group is not counted, nor is the fetch and gathering of its first batch (at most
//!    500 messages, those already fetched): a small bias in its favour. The inbox is counted
//!    (every [`POLL`]) only once the handler has seen every event: counting it all along would
//!    take a share of the machine's cores from the group under test.
//!
//!    The `Recorder` runs twice: as the fixtures define it, one prepared insert per event (a
//!    handler without a batch path, as the payment and shipping handlers are), and as
//!    [`BatchRecorder`], which inserts a batch's rows in one statement (a batch-capable handler,
//!    as the projector is).

#[allow(dead_code)] // The charts are the api and scale benches'.
mod common;

use common::{knob, median, report::Report, Comparison};
use orderflow_tests::{
    fixtures::{Isolated, Recorder, EFFECTS_TABLE},
    Env,
};
use platform::{
    app::Platform,
    config::{ConsumerSettings, RelaySettings},
    consumer::{Handler, HandlerError, InboundEvent},
    outbox::{
        self,
        relay::{self, Relay},
        Transaction,
    },
    registry::Registry,
};
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    error::KafkaError,
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
    types::RDKafkaErrorCode,
    Message, Offset, TopicPartitionList,
};
use schemas::{codec, DomainEvent, EventType, Topic};
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Outbox rows per writing transaction.
const WRITE_BATCH: usize = 500;
/// The longest any one measurement may take before the bench gives up.
const LIMIT: Duration = Duration::from_secs(300);
/// How often the inbox is counted while the consumer group drains.
const POLL: Duration = Duration::from_millis(10);
/// The consumer groups under test, with the `Recorder` and with the no-op handler. Their
/// dead-letter topics must exist.
const GROUP: &str = "bench-consumer";
const BATCH_GROUP: &str = "bench-batch";
const NOOP_GROUP: &str = "bench-noop";

/// What every run measures, in events per second.
struct Figures {
    relay: f64,
    raw_producer: f64,
    steps: Steps,
    group: f64,
    batch_group: f64,
    noop_group: f64,
    raw_consumer: f64,
    raw_decode: f64,
}

/// Time spent in each step of the relay's passes over `N` rows.
#[derive(Default)]
struct Steps {
    fetch: Duration,
    publish: Duration,
    mark: Duration,
    passes: usize,
}

impl Steps {
    fn total(&self) -> Duration {
        self.fetch + self.publish + self.mark
    }

    fn share(&self, step: Duration) -> f64 {
        100.0 * step.as_secs_f64() / self.total().as_secs_f64()
    }
}

/// How the runs are set up.
struct Setup {
    events: usize,
    relay_batch: i64,
    consumer_batch: usize,
    analyze: bool,
}

#[tokio::main]
async fn main() {
    let setup = Setup {
        events: knob("BENCH_EVENTS", 20_000) as usize,
        relay_batch: knob(
            "BENCH_RELAY_BATCH",
            RelaySettings::default().batch_size.unsigned_abs(),
        ) as i64,
        consumer_batch: knob(
            "BENCH_CONSUMER_BATCH",
            ConsumerSettings::default().batch_size as u64,
        ) as usize,
        analyze: knob("BENCH_ANALYZE", 0) == 1,
    };
    let (events, relay_batch) = (setup.events, setup.relay_batch);
    let reps = knob("BENCH_REPS", 3) as usize;
    let env = Env::from_env();
    let mut report = Report::start(
        "pipeline",
        serde_json::json!({
            "events": events,
            "reps": reps,
            "relay_batch": relay_batch,
            "consumer_batch": setup.consumer_batch,
        }),
    );
    println!(
        "pipeline bench: {events} events per run, {reps} runs, relay batches of {relay_batch}, \
         consumer batches of {}, outbox statistics {} (Kafka {})",
        setup.consumer_batch,
        if setup.analyze {
            "refreshed"
        } else {
            "as autovacuum left them"
        },
        env.kafka
    );

    let mut relay = Comparison::new("relay", "raw producer", "ev/s");
    let mut stepwise = Comparison::new("relay, steps timed", "raw producer", "ev/s");
    let mut group = Comparison::new("consumer group (Recorder)", "raw consume", "ev/s");
    let mut decode = Comparison::new("consumer group (Recorder)", "raw consume+decode", "ev/s");
    let mut batched = Comparison::new(
        "consumer group (Recorder, batched)",
        "raw consume+decode",
        "ev/s",
    );
    let mut noop = Comparison::new(
        "consumer group (no-op handler)",
        "raw consume+decode",
        "ev/s",
    );
    let mut shares = [Vec::new(), Vec::new(), Vec::new()];
    let mut per_pass = [Vec::new(), Vec::new(), Vec::new()];
    for rep in 0..reps {
        let f = run(&env, &setup, rep % 2 == 1).await;
        let s = &f.steps;
        println!(
            "run {}/{reps}: relay {:.0}  raw producer {:.0}  relay steps {:.0} (fetch {:.0}%  \
             publish {:.0}%  mark {:.0}%)  group {:.0}  batched group {:.0}  no-op group {:.0}  \
             raw consume {:.0}  raw consume+decode {:.0} ev/s",
            rep + 1,
            f.relay,
            f.raw_producer,
            rate(events, s.total()),
            s.share(s.fetch),
            s.share(s.publish),
            s.share(s.mark),
            f.group,
            f.batch_group,
            f.noop_group,
            f.raw_consumer,
            f.raw_decode
        );
        relay.system.push(f.relay);
        relay.baseline.push(f.raw_producer);
        stepwise.system.push(rate(events, s.total()));
        stepwise.baseline.push(f.raw_producer);
        for (i, step) in [s.fetch, s.publish, s.mark].into_iter().enumerate() {
            shares[i].push(s.share(step));
            per_pass[i].push(step.as_secs_f64() * 1000.0 / s.passes as f64);
        }
        group.system.push(f.group);
        group.baseline.push(f.raw_consumer);
        decode.system.push(f.group);
        decode.baseline.push(f.raw_decode);
        batched.system.push(f.batch_group);
        batched.baseline.push(f.raw_decode);
        noop.system.push(f.noop_group);
        noop.baseline.push(f.raw_decode);
    }

    println!();
    println!("== pipeline: {events} events per run, medians of {reps} runs ==");
    relay.print();
    stepwise.print();
    println!(
        "    relay time per pass of up to {} rows: fetch {:.1} ms ({:.0}%)  publish {:.1} ms \
         ({:.0}%)  mark {:.1} ms ({:.0}%)",
        relay_batch,
        median(&per_pass[0]),
        median(&shares[0]),
        median(&per_pass[1]),
        median(&shares[1]),
        median(&per_pass[2]),
        median(&shares[2]),
    );
    group.print();
    decode.print();
    batched.print();
    noop.print();
    report.add_all(&[&relay, &stepwise, &group, &decode, &batched, &noop]);
    report.finish();
}

/// One run on a fresh database and namespace, removed afterwards.
async fn run(env: &Env, setup: &Setup, raw_first: bool) -> Figures {
    let n = setup.events;
    let iso = Isolated::new(env.clone(), &[GROUP, BATCH_GROUP, NOOP_GROUP]).await;
    let raw_topic = format!("{}raw", iso.namespace);
    env.create_topic(&raw_topic, 3).await;
    let mut settings = iso.settings();
    settings.relay.batch_size = setup.relay_batch;
    settings.consumer.batch_size = setup.consumer_batch;
    let platform = Platform::build(settings, &[EFFECTS_TABLE])
        .await
        .expect("platform built on the bench database");

    let batch = order_events(n);
    let topic = iso.topic(Topic::Orders);
    let schema_id = platform
        .registry
        .schema_id(EventType::OrderPlaced, &topic)
        .await
        .expect("OrderPlaced registered");
    let framed = frames(&batch, schema_id);

    // Warm both producers, then write the rows the relay will publish.
    let relay = platform.relay();
    let (relay_db, _notifications) = relay.connect().await.expect("relay connection");
    write(&platform, &order_events(1)).await;
    assert_eq!(relay.publish_pending(&relay_db).await.expect("warm-up"), 1);
    let raw = platform::kafka::producer(&platform.settings.kafka).expect("raw producer");
    produce_all(&raw, &raw_topic, &framed[..1]).await;
    write(&platform, &batch).await;
    if setup.analyze {
        relay_db
            .batch_execute("ANALYZE outbox")
            .await
            .expect("analyzed");
    }

    let time_relay = async {
        let start = Instant::now();
        let mut published = 0;
        while published < n {
            within_limit(start, published, n);
            published += relay.publish_pending(&relay_db).await.expect("relay pass");
        }
        rate(n, start.elapsed())
    };
    let time_raw = async {
        let start = Instant::now();
        produce_all(&raw, &raw_topic, &framed).await;
        rate(n, start.elapsed())
    };
    let (relay_rate, raw_rate) = if raw_first {
        let raw = time_raw.await;
        (time_relay.await, raw)
    } else {
        let relay = time_relay.await;
        (relay, time_raw.await)
    };

    write(&platform, &order_events(n)).await;
    if setup.analyze {
        relay_db
            .batch_execute("ANALYZE outbox")
            .await
            .expect("analyzed");
    }
    let steps = relay_steps(&relay, &relay_db, n).await;

    // The relay's topic now holds the warm-up event and both batches.
    let on_topic = 2 * n + 1;
    let raw_consumer = consume_raw(env, &topic, on_topic, None).await;
    let decoder = Registry::new(&platform.settings.registry).expect("registry client");
    let raw_decode = consume_raw(env, &topic, on_topic, Some(&decoder)).await;
    let noop_group = consume_group(&platform, &iso, NOOP_GROUP, Noop, on_topic).await;
    let group = consume_group(&platform, &iso, GROUP, Recorder, on_topic).await;
    let batch_group = consume_group(&platform, &iso, BATCH_GROUP, BatchRecorder, on_topic).await;

    // The isolation, dropped at the end of this function, removes the database and subjects.
    drop((relay, relay_db, raw, platform));
    common::delete_namespace(env, &iso.namespace).await;
    Figures {
        relay: relay_rate,
        raw_producer: raw_rate,
        steps,
        group,
        batch_group,
        noop_group,
        raw_consumer,
        raw_decode,
    }
}

/// Publishes `n` pending rows as `publish_pending` does, timing each of its steps.
async fn relay_steps(relay: &Relay, client: &tokio_postgres::Client, n: usize) -> Steps {
    let mut steps = Steps::default();
    let start = Instant::now();
    let mut published = 0;
    while published < n {
        within_limit(start, published, n);
        let t = Instant::now();
        let rows = relay.fetch_pending(client).await.expect("fetch");
        steps.fetch += t.elapsed();
        let t = Instant::now();
        let outcome = relay.publish(&rows).await.expect("publish");
        steps.publish += t.elapsed();
        assert!(outcome.first_error.is_none(), "a row was not acknowledged");
        let t = Instant::now();
        relay::delete_published(client, &outcome.acknowledged)
            .await
            .expect("mark");
        steps.mark += t.elapsed();
        published += outcome.acknowledged.len();
        steps.passes += 1;
    }
    steps
}

/// Fails the bench when the relay has not published all `n` rows in time.
fn within_limit(start: Instant, published: usize, n: usize) {
    assert!(
        start.elapsed() < LIMIT,
        "relay published {published} of {n}"
    );
}

fn rate(events: usize, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

/// `n` orders as the order-service places them, each its own order (so its own key).
fn order_events(n: usize) -> Vec<DomainEvent> {
    (0..n)
        .map(|i| common::sample_order(format!("customer-{}", i % 1000)).into())
        .collect()
}

/// Writes `events` to the outbox as a service would, [`WRITE_BATCH`] per transaction.
async fn write(platform: &Platform, events: &[DomainEvent]) {
    let mut client = platform.pool.get().await.expect("pooled connection");
    for chunk in events.chunks(WRITE_BATCH) {
        let tx = outbox::Transaction::begin(&mut client)
            .await
            .expect("transaction");
        for event in chunk {
            outbox::enqueue(&tx, event).await.expect("outbox row");
        }
        outbox::commit(tx).await.expect("commit");
    }
}

/// What goes on the wire for one event: key, Confluent-framed value and headers.
struct Frame {
    key: String,
    value: Vec<u8>,
    event_id: String,
    event_type: &'static str,
}

/// The relay's framing: magic byte, big-endian schema id, Avro datum.
fn frames(events: &[DomainEvent], schema_id: u32) -> Vec<Frame> {
    events
        .iter()
        .map(|event| {
            let datum = codec::encode_datum(event).expect("event encodes");
            let mut value = Vec::with_capacity(5 + datum.len());
            value.push(0);
            value.extend_from_slice(&schema_id.to_be_bytes());
            value.extend_from_slice(&datum);
            Frame {
                key: event.header().order_id.to_string(),
                value,
                event_id: event.header().event_id.to_string(),
                event_type: event.event_type().full_name(),
            }
        })
        .collect()
}

/// Enqueues every frame (waiting out a full local queue, as the relay does), then awaits every
/// delivery report.
async fn produce_all(producer: &FutureProducer, topic: &str, frames: &[Frame]) {
    let mut deliveries = Vec::with_capacity(frames.len());
    for frame in frames {
        let headers = OwnedHeaders::new_with_capacity(2)
            .insert(Header {
                key: "event_id",
                value: Some(frame.event_id.as_str()),
            })
            .insert(Header {
                key: "event_type",
                value: Some(frame.event_type),
            });
        let mut record = FutureRecord::to(topic)
            .key(&frame.key)
            .payload(&frame.value)
            .headers(headers);
        let deadline = Instant::now() + LIMIT;
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r))
                    if Instant::now() < deadline =>
                {
                    record = r;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((e, _)) => panic!("raw produce to {topic}: {e}"),
            }
        }
    }
    for delivery in deliveries {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => panic!("raw delivery to {topic}: {e}"),
            Err(_) => panic!("raw delivery to {topic} canceled"),
        }
    }
}

/// Reads `expected` messages of `topic` from the beginning of its partitions, decoding each
/// when a registry is given. Events per second from assigning the partitions (no group to
/// join) to the last message, so the broker's fetches are counted.
async fn consume_raw(env: &Env, topic: &str, expected: usize, decoder: Option<&Registry>) -> f64 {
    let consumer: StreamConsumer = env
        .client_config()
        .set("group.id", orderflow_tests::unique("bench-raw"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("raw consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("topic metadata");
    let mut partitions = TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        partitions
            .add_partition_offset(topic, partition.id(), Offset::Beginning)
            .expect("partition added");
    }
    let start = Instant::now();
    consumer.assign(&partitions).expect("partitions assigned");
    let deadline = start + LIMIT;
    for received in 0..expected {
        let message = match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => panic!("raw consume of {topic}: {e}"),
            Err(_) => panic!("raw consumer read {received} of {expected} from {topic}"),
        };
        if let Some(registry) = decoder {
            let payload = message.payload().expect("a value");
            registry.decode(payload).await.expect("the event decodes");
        }
    }
    rate(expected, start.elapsed())
}

/// A handler with no effect of its own: the consumer still decodes, writes the inbox and
/// commits.
struct Noop;

impl Handler for Noop {
    async fn handle(&self, _: &Transaction<'_>, _: &InboundEvent) -> Result<(), HandlerError> {
        Ok(())
    }
}

/// The fixtures' `Recorder` with a batch path: the batch's effect rows in one statement.
struct BatchRecorder;

impl Handler for BatchRecorder {
    const BATCHES: bool = true;

    async fn handle(&self, tx: &Transaction<'_>, event: &InboundEvent) -> Result<(), HandlerError> {
        Recorder.handle(tx, event).await
    }

    async fn handle_batch(
        &self,
        tx: &Transaction<'_>,
        events: &[&InboundEvent],
    ) -> Result<(), HandlerError> {
        let insert = tx
            .prepare_cached(
                "INSERT INTO effects (event_id, order_id, event_type)
                 SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[])",
            )
            .await?;
        let headers = events.iter().map(|e| e.event.header());
        let event_ids: Vec<uuid::Uuid> = headers.clone().map(|h| h.event_id).collect();
        let order_ids: Vec<uuid::Uuid> = headers.map(|h| h.order_id).collect();
        let types: Vec<&str> = events
            .iter()
            .map(|e| e.event.event_type().full_name())
            .collect();
        tx.execute(&insert, &[&event_ids, &order_ids, &types])
            .await?;
        Ok(())
    }
}

/// `H`, noting when it is first called and how many events it was handed.
struct Timed<H> {
    inner: H,
    first: Arc<OnceLock<Instant>>,
    handled: Arc<AtomicUsize>,
}

impl<H: Handler> Timed<H> {
    fn saw(&self, events: usize) {
        self.first.get_or_init(Instant::now);
        self.handled.fetch_add(events, Ordering::Relaxed);
    }
}

impl<H: Handler> Handler for Timed<H> {
    const BATCHES: bool = H::BATCHES;

    async fn handle(&self, tx: &Transaction<'_>, event: &InboundEvent) -> Result<(), HandlerError> {
        self.saw(1);
        self.inner.handle(tx, event).await
    }

    async fn handle_batch(
        &self,
        tx: &Transaction<'_>,
        events: &[&InboundEvent],
    ) -> Result<(), HandlerError> {
        self.saw(events.len());
        self.inner.handle_batch(tx, events).await
    }
}

/// Drains `expected` events of the orders topic with a platform consumer group `name` running
/// `handler`. Events per second from the first handler call until the inbox holds them all.
async fn consume_group<H: Handler>(
    platform: &Platform,
    iso: &Isolated,
    name: &str,
    handler: H,
    expected: usize,
) -> f64 {
    let first = Arc::new(OnceLock::new());
    let handled = Arc::new(AtomicUsize::new(0));
    let handler = Timed {
        inner: handler,
        first: first.clone(),
        handled: handled.clone(),
    };
    let stop = CancellationToken::new();
    let consumer = tokio::spawn(
        platform
            .consumer(name, &[Topic::Orders], handler)
            .run(stop.clone()),
    );
    let db = iso.client().await;
    let group = format!("{}{name}", iso.namespace);
    let deadline = Instant::now() + LIMIT;
    loop {
        if handled.load(Ordering::Relaxed) < expected {
            assert!(
                Instant::now() < deadline,
                "consumer group handled {} of {expected} events",
                handled.load(Ordering::Relaxed)
            );
            tokio::time::sleep(POLL).await;
            continue;
        }
        let done: i64 = db
            .query_one(
                "SELECT count(*) FROM inbox WHERE consumer_group = $1",
                &[&group],
            )
            .await
            .expect("inbox count")
            .get(0);
        if done as usize >= expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "consumer group applied {done} of {expected} events"
        );
        tokio::time::sleep(POLL).await;
    }
    let elapsed = first.get().expect("the handler ran").elapsed();
    stop.cancel();
    match tokio::time::timeout(Duration::from_secs(30), consumer).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => panic!("consumer group failed: {e}"),
        Ok(Err(e)) => panic!("consumer group panicked: {e}"),
        Err(_) => eprintln!("warning: consumer group did not stop within 30 s"),
    }
    rate(expected - 1, elapsed)
}
