//! `orderflow replay read-model`: rebuild the order-status read model from the log into a
//! shadow copy, compare it with the live one, and swap it in.
//!
//! The shadow's tables, its inbox of event ids, the swap's hand-over and the comparison are
//! order-service's ([`order_service::read_model`]); this module reads the log and drives them.
//!
//! # The rebuild
//! The three contract topics are read by assignment (no consumer group; see [`crate::kafka`])
//! from the beginning, or from `--since`, up to the end offsets seen when the pass started;
//! passes repeat until a pass finds nothing new ("caught up"). Workers split the partitions
//! by number, each a task of its own with its own reader and connection, so that reading,
//! decoding and folding use every core; each merges its partitions' records in time order into
//! batches ([`Batches`]), so that a batch holds the events of an order on the three topics
//! together, and reads the next batch while its connection applies one. Each batch is decoded
//! with the platform's registry client and applied by the shadow ([`Shadow::apply`], with
//! order-service's own projector) in **one** transaction that also records the next offset of
//! every partition in the shadow's positions. So:
//! - the live tables are never written: nothing the platform reads changes;
//! - an interrupted rebuild (Ctrl-C, the tool killed) leaves the shadow exactly at its last
//!   committed batch, and the next run **resumes** from those positions (`--fresh` discards it
//!   instead);
//! - undecodable records are counted and skipped, as the live projector dead-letters them;
//! - every event is keyed by its order id, so with as many partitions on the three topics (the
//!   deployments' rule) one order's events share a partition number, and the workers, split by
//!   partition number, apply disjoint sets of orders (with unequal counts one worker applies
//!   all), as the shadow's only writer requires.
//!
//! # Swap
//! `--swap` makes the shadow the live model while the platform keeps running
//! ([`order_service::read_model::swap`]): prepared outside the lock, then, under the lock of
//! the live tables, caught up with the end of the log by this module and handed over.
//!
//! # Verify
//! `--verify` compares shadow and live view by view (status and version) and prints a summary
//! of differences with a few examples. An order whose live view applied events that are no
//! longer on the log (below a partition's low watermark: retention removed them) is reported
//! apart, as one the log cannot reconstruct, not as a difference.

use crate::{
    kafka::{Kafka, Range, Reader, Start},
    output::{Out, Progress},
    settings::{Db, ServiceDb, Settings, CONNECT_TIMEOUT},
    CliError,
};
use order_service::{
    consumers::order_status_projector::ViewTables,
    read_model::{self, shadow, swap as hand, verify::Difference, ReadModelError, Shadow},
};
use platform::{
    config::DatabaseSettings,
    consumer::InboundEvent,
    db::{DbError, Pool, Transaction},
    registry::{DecodeError, Registry},
};
use rdkafka::message::{Message, OwnedMessage};
use serde::Serialize;
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
    time::Instant,
};
use uuid::Uuid;

/// Most records applied in one shadow transaction.
const BATCH: usize = 2000;
/// Batches applied at once, each by its own reader and connection: the database's work, most
/// of a rebuild's time, then runs on several backends.
pub const WORKERS: usize = 3;

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    #[command(subcommand)]
    pub command: ReplayCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ReplayCommand {
    /// Rebuild the order-status read model from the log into shadow tables.
    ReadModel(ReadModelArgs),
}

#[derive(Debug, clap::Args)]
pub struct ReadModelArgs {
    /// Start a new shadow from this RFC 3339 time instead of the beginning of the log.
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    pub since: Option<i64>,
    /// Discard an existing shadow (e.g. an interrupted rebuild) instead of resuming it.
    #[arg(long)]
    pub fresh: bool,
    /// After the rebuild, compare the shadow with the live read model.
    #[arg(long)]
    pub verify: bool,
    /// After the rebuild (and the verify), make the shadow the live read model, while the
    /// platform runs.
    #[arg(long)]
    pub swap: bool,
}

/// What a rebuild did.
#[derive(Debug, Default, Serialize)]
pub struct Rebuilt {
    /// Records read from the topics.
    pub records: u64,
    /// Events applied to the shadow.
    pub applied: u64,
    /// Events the shadow had applied already (published twice).
    pub duplicates: u64,
    /// Records that could not be decoded (the live projector dead-letters them).
    pub undecodable: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
}

impl Rebuilt {
    fn add(&mut self, other: &Rebuilt) {
        self.records += other.records;
        self.applied += other.applied;
        self.duplicates += other.duplicates;
        self.undecodable += other.undecodable;
    }
}

pub async fn run(settings: &Settings, out: &Out, args: ReplayArgs) -> Result<(), CliError> {
    let ReplayCommand::ReadModel(args) = args.command;
    let kafka = Kafka::connect(&settings.kafka)?;
    let registry = settings.registry().await?;
    let orders = &settings.databases[0];
    // A check with a deadline first: the pool itself connects lazily.
    let db = Db::connect(orders).await?;
    let pool = connections(orders, &db)?;
    let shadow = prepare_shadow(&db, shadow::tables(), args.fresh).await?;
    let tables = shadow.tables();
    let source = Source {
        kafka: &kafka,
        registry: Arc::new(registry),
        registry_url: &settings.registry.url,
    };
    let start = args.since.map_or(Start::Earliest, Start::Time);
    let rebuilt = rebuild(&source, &pool, &db, &shadow, start, true).await?;
    if out.is_json() {
        out.json(&serde_json::json!({"rebuilt": rebuilt}))?;
    } else {
        out.line(format!(
            "rebuilt {}: {} records, {} events applied, {} duplicates, {} undecodable, {:.1} s, {:.0} events/s",
            tables.views,
            rebuilt.records,
            rebuilt.applied,
            rebuilt.duplicates,
            rebuilt.undecodable,
            rebuilt.seconds,
            rebuilt.events_per_sec
        ))?;
    }
    if args.verify {
        let verified = verify(&kafka, &db, tables).await?;
        if out.is_json() {
            out.json(&serde_json::json!({"verify": verified}))?;
        } else {
            print_verify(out, &verified)?;
        }
    }
    if args.swap {
        let swapped = swap(&source, &pool, &db, &shadow).await?;
        if out.is_json() {
            out.json(&serde_json::json!({"swapped": swapped}))?;
        } else {
            out.line(format!(
                "swapped: the rebuilt model is live ({} more records applied under the lock); \
                 the previous one is kept as order_views_replaced",
                swapped.caught_up.records
            ))?;
        }
    }
    Ok(())
}

/// The connections a rebuild and a swap use, to the database of `orders` (`db`, connected):
/// one per worker and one more. Made as they are first needed.
pub fn connections(orders: &ServiceDb, db: &Db) -> Result<Pool, CliError> {
    let settings = DatabaseSettings::new(orders.url.clone(), WORKERS + 1);
    platform::db::pool(&settings).map_err(|e| CliError::DatabaseUnreachable {
        address: db.address.clone(),
        reason: platform::error_chain(&e),
    })
}

/// Takes the shadow `tables` for the tool's session ([`Shadow::prepare`]): one rebuild at a
/// time, held by `db`'s session (the tool's own connection, open until it exits).
pub async fn prepare_shadow(
    db: &Db,
    tables: ViewTables,
    fresh: bool,
) -> Result<Arc<Shadow>, CliError> {
    let shadow = Shadow::prepare(&db.client, tables, fresh)
        .await
        .map_err(|e| refused_or_failed(db, e))?;
    Ok(Arc::new(shadow))
}

/// Gives the shadow tables every index of the live ones they lack ([`shadow::index`]).
pub async fn index_shadow(pool: &Pool, db: &Db, tables: &ViewTables) -> Result<(), CliError> {
    shadow::index(pool, tables)
        .await
        .map_err(|e| refused_or_failed(db, e))
}

/// A read-model step's error as the tool reports it: a refusal, or the database of `db`.
fn refused_or_failed(db: &Db, e: ReadModelError) -> CliError {
    match e {
        ReadModelError::Busy(_) | ReadModelError::Behind(_) => CliError::Refused(e.to_string()),
        ReadModelError::Db(DbError::Postgres(e)) => db.failed(e),
        ReadModelError::Db(e) => CliError::DatabaseUnreachable {
            address: db.address.clone(),
            reason: platform::error_chain(&e),
        },
    }
}

/// Where a rebuild reads from.
pub struct Source<'a> {
    pub kafka: &'a Kafka,
    pub registry: Arc<Registry>,
    pub registry_url: &'a str,
}

/// Rebuilds into `tables` from their recorded positions (or `start` where none) until caught
/// up with the log. `progress`: draw a progress bar.
pub async fn rebuild(
    source: &Source<'_>,
    pool: &Pool,
    db: &Db,
    shadow: &Arc<Shadow>,
    start: Start,
    progress: bool,
) -> Result<Rebuilt, CliError> {
    let tables = shadow.tables();
    let mut stats = Rebuilt::default();
    let began = Instant::now();
    loop {
        let remaining = {
            let client = pooled(pool, &db.address).await?;
            let client: &tokio_postgres::Client = &client;
            remaining(source.kafka, client, tables, start)
                .await
                .map_err(|e| e.on(db))?
        };
        let total = remaining.records();
        if total == 0 {
            break;
        }
        shadow.expect(total as usize);
        let bar = progress.then(|| Arc::new(Progress::new(total as u64, "rebuilding")));
        // Each worker a task of its own: reading, decoding and the projector's folding run on
        // every core, not only on the one polling this function.
        let mut workers = tokio::task::JoinSet::new();
        let split = if remaining.aligned { WORKERS } else { 1 };
        for ranges in split_by_partition(remaining.ranges, split) {
            let batches = Batches::new(source.kafka.reader(&ranges, false)?, source);
            let (pool, address) = (pool.clone(), db.address.clone());
            workers.spawn(work(batches, pool, address, shadow.clone(), bar.clone()));
        }
        // The first failure ends the pass: the other workers are aborted with the set.
        while let Some(done) = workers.join_next().await {
            let part = done
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
                .map_err(|e| e.on(db))?;
            stats.add(&part);
        }
        if let Some(bar) = bar {
            bar.finish();
        }
        // Under traffic the log grows while a pass runs, so a pass may never find nothing
        // left. One that had no more than a batch per worker to read has caught up to within
        // what arrives meanwhile: stop there instead of chasing the tail (a swap catches up
        // the rest under its lock; a resumed rebuild reads it).
        if total <= (BATCH * WORKERS) as i64 {
            break;
        }
    }
    stats.seconds = began.elapsed().as_secs_f64();
    stats.events_per_sec = stats.records as f64 / stats.seconds.max(1e-9);
    Ok(stats)
}

/// `ranges` in `n` groups by partition number. With equal partition counts (the deployments'
/// rule) one order's events on the three topics share a partition number, so the groups touch
/// disjoint views.
pub fn split_by_partition(ranges: Vec<Range>, n: usize) -> Vec<Vec<Range>> {
    let mut groups: Vec<Vec<Range>> = (0..n).map(|_| Vec::new()).collect();
    for range in ranges {
        groups[range.partition as usize % n].push(range);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// Applies `batches` to their ends, one transaction each, on a connection of its own to the
/// database at `address` (made while the first batch is read). The next batch is read and
/// decoded while one is applied: the client's work overlaps the database's.
async fn work(
    mut batches: Batches,
    pool: Pool,
    address: String,
    shadow: Arc<Shadow>,
    bar: Option<Arc<Progress>>,
) -> Result<Rebuilt, BatchError> {
    let mut stats = Rebuilt::default();
    let (mut client, mut next) = futures::try_join!(pooled(&pool, &address), batches.decoded())?;
    while let Some(batch) = next {
        let (following, ()) = futures::try_join!(
            async { batches.decoded().await.map_err(BatchError::from) },
            commit(&mut client, &shadow, &batch, &mut stats)
        )?;
        if let Some(bar) = &bar {
            bar.inc(batch.records);
        }
        next = following;
    }
    // Closing a consumer waits for librdkafka's threads to wind down: off the rebuild's path,
    // which has nothing left to read from it.
    tokio::task::spawn_blocking(move || drop(batches));
    Ok(stats)
}

/// Applies `batch` to `shadow` in a transaction of its own.
async fn commit(
    client: &mut platform::db::Client,
    shadow: &Shadow,
    batch: &Decoded,
    stats: &mut Rebuilt,
) -> Result<(), BatchError> {
    let tx = client.transaction().await?;
    // A batch lost in a crash is read again from the positions committed with the batch
    // before, so the rebuild need not wait for each commit's flush to disk. The setting goes
    // ahead of the batch's first statements, pipelined: sent first, without a round trip of
    // its own.
    futures::try_join!(
        tx.batch_execute("SET LOCAL synchronous_commit = off"),
        apply_batch(&tx, shadow, batch, stats)
    )?;
    Ok(tx.commit().await?)
}

/// What is left of the log to apply.
struct Remaining {
    /// The slices of the three topics not read yet, up to the current ends.
    ranges: Vec<Range>,
    /// Whether the three topics have as many partitions each. Every event is keyed by its
    /// order id, so one order's events then share a partition number on the three topics, and
    /// workers split by partition number ([`split_by_partition`]) apply disjoint sets of
    /// orders, as the shadow's projector requires ([`Projector::exclusive`]). Otherwise one
    /// worker applies all.
    aligned: bool,
}

impl Remaining {
    fn records(&self) -> i64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }
}

/// What `tables` have not read yet of the three topics, up to the current ends.
async fn remaining(
    kafka: &Kafka,
    client: &impl tokio_postgres::GenericClient,
    tables: &ViewTables,
    start: Start,
) -> Result<Remaining, BatchError> {
    let recorded = shadow::positions(client, tables).await?;
    let mut ranges = Vec::new();
    let mut counts = Vec::new();
    for topic in super::physical_topics(&kafka.settings, &[]) {
        let all = kafka.ranges(&topic, start, None)?;
        counts.push(all.len());
        for range in all {
            let key = (range.topic.clone(), range.partition);
            let start = recorded.get(&key).copied().unwrap_or(range.start);
            if start < range.end {
                ranges.push(Range { start, ..range });
            }
        }
    }
    counts.dedup();
    Ok(Remaining {
        ranges,
        aligned: counts.len() <= 1,
    })
}

/// A worker's records in batches of up to [`BATCH`], merged across its partitions in time
/// order (the records' timestamps; each partition in offset order). One order's events on the
/// three topics, published moments apart, then fall in one batch, whose view the projector
/// inserts once with all of them folded in. Kafka delivers a partition's records in runs, so
/// batches taken as delivered would hold each topic's events of an order apart: a view
/// inserted, then locked and updated once per further topic, three writes instead of one.
struct Batches {
    reader: Reader,
    registry: Arc<Registry>,
    registry_url: String,
    /// The reader's partitions, by slot ([`Reader::next_slotted`]).
    partitions: Arc<[(String, i32)]>,
    /// Records read but not batched yet, per slot, in offset order. Equal timestamps go by
    /// slot (the order of the ranges), the same way every time.
    buffered: Vec<VecDeque<OwnedMessage>>,
}

impl Batches {
    fn new(reader: Reader, source: &Source<'_>) -> Self {
        let partitions: Arc<[(String, i32)]> = reader.partitions().cloned().collect();
        Batches {
            buffered: partitions.iter().map(|_| VecDeque::new()).collect(),
            partitions,
            reader,
            registry: source.registry.clone(),
            registry_url: source.registry_url.to_owned(),
        }
    }

    /// The next batch, decoded; `None` once every partition is read.
    async fn decoded(&mut self) -> Result<Option<Decoded>, CliError> {
        let Some(batch) = self.next().await? else {
            return Ok(None);
        };
        let mut decoded = Decoded {
            records: batch.len() as u64,
            undecodable: 0,
            events: Vec::with_capacity(batch.len()),
            partitions: self.partitions.clone(),
            next: vec![None; self.partitions.len()],
        };
        for (slot, m) in &batch {
            // Decoding a batch is CPU work that never waits for anything: give way now
            // and then, so the commit beside it (same task) and the other workers send their
            // next statements as soon as the database answers.
            tokio::task::consume_budget().await;
            decoded.next[*slot] = Some(m.offset() + 1);
            let Some(payload) = m.payload() else {
                decoded.undecodable += 1;
                continue;
            };
            match self.registry.decode(payload).await {
                Ok(event) => decoded.events.push(InboundEvent {
                    event,
                    topic: m.topic().to_owned(),
                    partition: m.partition(),
                    offset: m.offset(),
                    traceparent: platform::consumer::header(m, "traceparent"),
                }),
                Err(DecodeError::Permanent { .. }) => decoded.undecodable += 1,
                Err(e @ DecodeError::Transient(_)) => {
                    return Err(CliError::RegistryUnreachable {
                        url: self.registry_url.clone(),
                        reason: platform::error_chain(&e),
                    })
                }
            }
        }
        Ok(Some(decoded))
    }

    /// The next batch (each record with its slot), the earliest records first; `None` once
    /// every partition is read.
    async fn next(&mut self) -> Result<Option<Vec<(usize, OwnedMessage)>>, CliError> {
        let mut batch = Vec::with_capacity(BATCH);
        while batch.len() < BATCH {
            // The earliest record is known once each partition still being read has its next
            // one at hand.
            while (0..self.buffered.len())
                .any(|slot| self.reader.is_reading(slot) && self.buffered[slot].is_empty())
            {
                let Some((slot, m)) = self.reader.next_slotted().await? else {
                    break;
                };
                self.buffered[slot].push_back(m);
            }
            let earliest = self
                .buffered
                .iter()
                .enumerate()
                .filter_map(|(slot, q)| Some((slot, q.front()?.timestamp().to_millis())))
                .min_by_key(|(_, at)| *at)
                .map(|(slot, _)| slot);
            let Some(slot) = earliest else {
                break;
            };
            if let Some(m) = self.buffered[slot].pop_front() {
                batch.push((slot, m));
            }
        }
        Ok((!batch.is_empty()).then_some(batch))
    }
}

/// A connection of `pool`, to the database at `address`.
async fn pooled(pool: &Pool, address: &str) -> Result<platform::db::Client, CliError> {
    let unreachable = |reason: String| CliError::DatabaseUnreachable {
        address: address.to_owned(),
        reason,
    };
    tokio::time::timeout(CONNECT_TIMEOUT, pool.get())
        .await
        .map_err(|_| unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| unreachable(platform::error_chain(&e)))
}

/// Why a batch could not be applied.
enum BatchError {
    Cli(CliError),
    Db(tokio_postgres::Error),
}

impl BatchError {
    fn on(self, db: &Db) -> CliError {
        match self {
            BatchError::Cli(e) => e,
            BatchError::Db(e) => db.failed(e),
        }
    }
}

impl From<CliError> for BatchError {
    fn from(e: CliError) -> Self {
        BatchError::Cli(e)
    }
}

impl From<tokio_postgres::Error> for BatchError {
    fn from(e: tokio_postgres::Error) -> Self {
        BatchError::Db(e)
    }
}

/// A batch of records, decoded.
struct Decoded {
    records: u64,
    undecodable: u64,
    events: Vec<InboundEvent>,
    /// The partitions of the worker's reader, by slot.
    partitions: Arc<[(String, i32)]>,
    /// The offset after the batch in each slot's partition, where it holds any.
    next: Vec<Option<i64>>,
}

/// Applies `batch` to `shadow`, with the positions after it, within `tx`.
async fn apply_batch(
    tx: &Transaction<'_>,
    shadow: &Shadow,
    batch: &Decoded,
    stats: &mut Rebuilt,
) -> Result<(), tokio_postgres::Error> {
    // Past the skipped records too, so that a resumed rebuild does not read them again.
    let next: BTreeMap<(&str, i32), i64> = batch
        .partitions
        .iter()
        .zip(&batch.next)
        .filter_map(|((topic, partition), next)| Some(((topic.as_str(), *partition), (*next)?)))
        .collect();
    let done = shadow.apply(tx, &batch.events, &next).await?;
    stats.records += batch.records;
    stats.undecodable += batch.undecodable;
    stats.applied += done.applied;
    stats.duplicates += done.duplicates;
    Ok(())
}

/// What the swap did.
#[derive(Debug, Serialize)]
pub struct Swapped {
    /// The records applied to the shadow while the live tables were locked.
    pub caught_up: Rebuilt,
}

/// Makes the shadow the live read model while the projector runs
/// ([`order_service::read_model::swap`]): prepared outside the lock; then in one transaction
/// the live tables locked, the shadow caught up to the current end of every partition (the
/// locked projector cannot be past it) and handed over.
pub async fn swap(
    source: &Source<'_>,
    pool: &Pool,
    db: &Db,
    shadow: &Shadow,
) -> Result<Swapped, CliError> {
    let tables = shadow.tables();
    hand::prepare(pool, tables)
        .await
        .map_err(|e| refused_or_failed(db, e))?;
    let mut client = pooled(pool, &db.address).await?;
    let tx = client.transaction().await.map_err(|e| db.failed(e))?;
    hand::lock_live(&tx).await.map_err(|e| db.failed(e))?;
    let mut caught_up = Rebuilt::default();
    let began = Instant::now();
    let locked: &tokio_postgres::Transaction = &tx;
    let ranges = remaining(source.kafka, locked, tables, Start::Earliest)
        .await
        .map_err(|e| e.on(db))?
        .ranges;
    let mut batches = Batches::new(source.kafka.reader(&ranges, false)?, source);
    while let Some(batch) = batches.decoded().await? {
        apply_batch(&tx, shadow, &batch, &mut caught_up)
            .await
            .map_err(|e| db.failed(e))?;
    }
    caught_up.seconds = began.elapsed().as_secs_f64();
    hand::hand_over(&tx, tables)
        .await
        .map_err(|e| refused_or_failed(db, e))?;
    tx.commit().await.map_err(|e| db.failed(e))?;
    Ok(Swapped { caught_up })
}

/// The differences between the shadow and the live read model.
#[derive(Debug, Default, Serialize)]
pub struct Verified {
    pub live_orders: i64,
    pub shadow_orders: i64,
    pub only_live: u64,
    pub only_shadow: u64,
    pub mismatched: u64,
    /// Orders whose live view applied events the log no longer holds: not reconstructable.
    pub events_gone: Vec<Uuid>,
    /// The first few differences.
    pub examples: Vec<Difference>,
}

impl Verified {
    pub fn differences(&self) -> u64 {
        self.only_live + self.only_shadow + self.mismatched
    }
}

const EXAMPLES: usize = 5;

/// Compares `tables` with the live read model ([`read_model::verify`]), setting apart the
/// orders the log can no longer reconstruct.
pub async fn verify(kafka: &Kafka, db: &Db, tables: &ViewTables) -> Result<Verified, CliError> {
    let failed = |e| db.failed(e);
    let (live_orders, shadow_orders) = read_model::verify::counts(&db.client, tables)
        .await
        .map_err(failed)?;
    let mut verified = Verified {
        live_orders,
        shadow_orders,
        ..Verified::default()
    };
    let mut low_watermarks: HashMap<(String, i32), i64> = HashMap::new();
    for difference in read_model::verify::differences(&db.client, tables)
        .await
        .map_err(failed)?
    {
        if difference.live.is_some()
            && events_gone(kafka, db, difference.order_id, &mut low_watermarks).await?
        {
            verified.events_gone.push(difference.order_id);
            continue;
        }
        match (&difference.live, &difference.shadow) {
            (Some(_), None) => verified.only_live += 1,
            (None, Some(_)) => verified.only_shadow += 1,
            _ => verified.mismatched += 1,
        }
        if verified.examples.len() < EXAMPLES {
            verified.examples.push(difference);
        }
    }
    Ok(verified)
}

/// Whether the live view of `order_id` applied an event below its partition's low watermark.
async fn events_gone(
    kafka: &Kafka,
    db: &Db,
    order_id: Uuid,
    low_watermarks: &mut HashMap<(String, i32), i64>,
) -> Result<bool, CliError> {
    let earliest = read_model::verify::earliest_offsets(&db.client, order_id)
        .await
        .map_err(|e| db.failed(e))?;
    for (key, earliest) in earliest {
        let low = match low_watermarks.get(&key) {
            Some(low) => *low,
            None => {
                let low = kafka.watermarks(&key.0, key.1)?.0;
                low_watermarks.insert(key, low);
                low
            }
        };
        if earliest < low {
            return Ok(true);
        }
    }
    Ok(false)
}

fn print_verify(out: &Out, v: &Verified) -> std::io::Result<()> {
    out.line(format!(
        "verify: live {} orders, shadow {} orders; {} difference(s): {} only live, {} only in shadow, {} status/version mismatches",
        v.live_orders,
        v.shadow_orders,
        v.differences(),
        v.only_live,
        v.only_shadow,
        v.mismatched
    ))?;
    let show = |view: &Option<(String, i64)>| {
        view.as_ref()
            .map_or_else(|| "-".to_owned(), |(s, v)| format!("{s} v{v}"))
    };
    let rows: Vec<Vec<String>> = v
        .examples
        .iter()
        .map(|d| vec![d.order_id.to_string(), show(&d.live), show(&d.shadow)])
        .collect();
    if !rows.is_empty() {
        out.table(&["ORDER", "LIVE", "SHADOW"], &rows)?;
    }
    if !v.events_gone.is_empty() {
        out.line(format!(
            "{} order(s) cannot be reconstructed: their events are no longer on the log (retention): {}",
            v.events_gone.len(),
            v.events_gone
                .iter()
                .take(EXAMPLES)
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
    }
    Ok(())
}
