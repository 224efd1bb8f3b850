//! `orderflow order <id>`: one order's whole story and whether its parts agree.
//!
//! The key of every event is the order id, so on each topic only the partition the key hashes
//! to (the producer's partitioner, [`platform::kafka::partition_for_key`]) is read, from
//! `--since` (an offset for that time) or the beginning. Beside the events: the read-model view
//! and the events it applied (order-service database), outbox rows still unpublished in each
//! service database, and the dead letters with the order's key. The verdict lists every
//! divergence: an event on Kafka the read model has not applied, an outbox row unpublished for
//! longer than `--stale-after`, a dead-lettered event.

use crate::{
    kafka::{Kafka, Start},
    output::Out,
    record::Record,
    settings::{Db, Settings},
    CliError,
};
use serde::Serialize;
use std::collections::HashSet;
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct OrderArgs {
    /// The order id.
    pub order_id: Uuid,
    /// Read the topics from this RFC 3339 time instead of the beginning.
    #[arg(long, value_parser = super::parse_time, value_name = "TIME")]
    pub since: Option<i64>,
    /// An unpublished outbox row older than this many seconds is a divergence.
    #[arg(long, default_value_t = 30)]
    pub stale_after: u64,
}

#[derive(Debug, Serialize)]
struct Story {
    order_id: Uuid,
    events: Vec<StoryEvent>,
    read_model: Option<View>,
    outbox: Vec<Unpublished>,
    dead_letters: Vec<Record>,
    divergences: Vec<String>,
    verdict: String,
}

#[derive(Debug, Serialize)]
struct StoryEvent {
    #[serde(flatten)]
    record: Record,
    /// Whether the read model applied it.
    applied: bool,
}

#[derive(Debug, Serialize)]
struct View {
    status: String,
    version: i64,
    updated_at: String,
}

#[derive(Debug, Serialize)]
struct Unpublished {
    service: &'static str,
    event_id: Uuid,
    event_type: String,
    topic: String,
    age_secs: f64,
}

pub async fn run(settings: &Settings, out: &Out, args: OrderArgs) -> Result<(), CliError> {
    let kafka = Kafka::connect(&settings.kafka)?;
    let registry = settings.registry().await?;
    let mut databases = Vec::new();
    for db in &settings.databases {
        databases.push(Db::connect(db).await?);
    }
    let key = args.order_id.to_string();
    let start = args.since.map_or(Start::Earliest, Start::Time);

    let read = |topics: Vec<String>| {
        let (kafka, registry, key) = (&kafka, &registry, &key);
        async move {
            let mut ranges = Vec::new();
            for topic in topics {
                ranges.extend(kafka.ranges(&topic, start, Some(key))?);
            }
            let mut reader = kafka.reader(&ranges, false)?;
            let mut records = Vec::new();
            while let Some(message) = reader.next().await? {
                if rdkafka::Message::key(&message) == Some(key.as_bytes()) {
                    records.push(Record::decode(registry, &message).await);
                }
            }
            Ok::<_, CliError>(records)
        }
    };
    let mut events = read(super::physical_topics(&settings.kafka, &[])).await?;
    events.sort_by_key(|r| {
        let occurred = r.event.as_ref().map(|e| e.header().occurred_at);
        (
            occurred.unwrap_or(r.millis),
            r.millis,
            r.topic.clone(),
            r.offset,
        )
    });
    let dead_letters = read(kafka.dead_letter_topics()?).await?;

    let orders = &databases[0];
    let view = orders
        .client
        .query_opt(
            "SELECT status, version, updated_at::text FROM order_views WHERE order_id = $1",
            &[&args.order_id],
        )
        .await
        .map_err(|e| orders.failed(e))?
        .map(|row| View {
            status: row.get(0),
            version: row.get(1),
            updated_at: row.get(2),
        });
    let applied: HashSet<Uuid> = orders
        .client
        .query(
            "SELECT event_id FROM order_view_events WHERE order_id = $1",
            &[&args.order_id],
        )
        .await
        .map_err(|e| orders.failed(e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut outbox = Vec::new();
    for db in &databases {
        let rows = db
            .client
            .query(
                "SELECT event_id, event_type, topic,
                        EXTRACT(EPOCH FROM now() - created_at)::float8
                 FROM outbox WHERE message_key = $1 ORDER BY id",
                &[&key],
            )
            .await
            .map_err(|e| db.failed(e))?;
        outbox.extend(rows.iter().map(|r| Unpublished {
            service: db.service,
            event_id: r.get(0),
            event_type: r.get(1),
            topic: r.get(2),
            age_secs: r.get(3),
        }));
    }
    if events.is_empty() && view.is_none() && outbox.is_empty() && dead_letters.is_empty() {
        return Err(CliError::NoSuchOrder(args.order_id));
    }

    let events: Vec<StoryEvent> = events
        .into_iter()
        .map(|record| StoryEvent {
            applied: record
                .event
                .as_ref()
                .is_some_and(|e| applied.contains(&e.header().event_id)),
            record,
        })
        .collect();
    let mut divergences = Vec::new();
    for e in events.iter().filter(|e| !e.applied) {
        divergences.push(format!(
            "{} {} is on Kafka but not applied by the read model",
            e.record.short_type(),
            e.record.position()
        ));
    }
    for row in outbox
        .iter()
        .filter(|r| r.age_secs > args.stale_after as f64)
    {
        divergences.push(format!(
            "{} outbox row {} ({}) unpublished for {:.0} s",
            row.service, row.event_id, row.event_type, row.age_secs
        ));
    }
    for dead in &dead_letters {
        divergences.push(format!(
            "dead-lettered at {}: {}",
            dead.position(),
            dead.headers
                .get("dlq.error.message")
                .map_or("(no reason)", String::as_str)
        ));
    }
    let verdict = if divergences.is_empty() {
        "consistent: every event on Kafka is applied, nothing waits in an outbox or a DLQ"
            .to_owned()
    } else {
        format!("{} divergence(s)", divergences.len())
    };
    let story = Story {
        order_id: args.order_id,
        events,
        read_model: view,
        outbox,
        dead_letters,
        divergences,
        verdict,
    };
    if out.is_json() {
        return Ok(out.json(&story)?);
    }
    print_story(out, &story)?;
    Ok(())
}

fn print_story(out: &Out, story: &Story) -> std::io::Result<()> {
    out.line(format!("order {}", story.order_id))?;
    out.line(format!("\nevents on Kafka ({}):", story.events.len()))?;
    let rows: Vec<Vec<String>> = story
        .events
        .iter()
        .map(|e| {
            vec![
                e.record.timestamp.clone().unwrap_or_default(),
                e.record.short_type().to_owned(),
                e.record.position(),
                e.record.trace_id.clone().unwrap_or_else(|| "-".into()),
                if e.applied { "applied" } else { "NOT APPLIED" }.to_owned(),
            ]
        })
        .collect();
    out.table(&["TIME", "TYPE", "POSITION", "TRACE", "READ MODEL"], &rows)?;
    out.line("\nread model:")?;
    match &story.read_model {
        Some(v) => out.line(format!(
            "  status {}, version {}, updated {}",
            v.status, v.version, v.updated_at
        ))?,
        None => out.line("  no view")?,
    }
    out.line(format!(
        "\nunpublished outbox rows ({}):",
        story.outbox.len()
    ))?;
    for row in &story.outbox {
        out.line(format!(
            "  {} {} {} -> {} age {:.1} s",
            row.service, row.event_id, row.event_type, row.topic, row.age_secs
        ))?;
    }
    out.line(format!("\ndead letters ({}):", story.dead_letters.len()))?;
    for dead in &story.dead_letters {
        out.line(format!(
            "  {} {} {}: {}",
            dead.position(),
            dead.short_type(),
            dead.headers
                .get("dlq.error.class")
                .map_or("-", String::as_str),
            dead.headers
                .get("dlq.error.message")
                .map_or("-", String::as_str),
        ))?;
    }
    out.line("")?;
    for d in &story.divergences {
        out.line(format!("  ! {d}"))?;
    }
    out.line(format!("verdict: {}", story.verdict))
}
