//! `orderflow events`: decode the records of topics and dead-letter topics.
//!
//! Reads by assignment (see [`crate::kafka`]): no consumer group, no commit. With `--key`
//! only the partition the key hashes to is read on each topic.

use super::{parse_event_type, physical_topics};
use crate::{
    kafka::{Kafka, Start},
    output::{Out, Progress},
    record::Record,
    settings::Settings,
    CliError,
};
use schemas::EventType;

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// A topic as the contract names it (`orders`, `payments`, `shipments`,
    /// `<group>.dlq`); repeatable. Default: the three contract topics.
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Where to start: `earliest`, `latest`, an RFC 3339 time, or `<partition>:<offset>`.
    #[arg(long, default_value = "earliest", value_name = "WHERE")]
    pub from: Start,
    /// Only records with this key (an order id); reads only the key's partition.
    #[arg(long)]
    pub key: Option<String>,
    /// Only events of this type (`OrderPlaced` or its full name).
    #[arg(long = "type", value_parser = parse_event_type, value_name = "EVENT_TYPE")]
    pub event_type: Option<EventType>,
    /// Stop after this many records.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Keep reading new records until interrupted.
    #[arg(long)]
    pub follow: bool,
}

pub async fn run(settings: &Settings, out: &Out, args: EventsArgs) -> Result<(), CliError> {
    let kafka = Kafka::connect(&settings.kafka)?;
    let registry = settings.registry().await?;
    let mut ranges = Vec::new();
    for topic in physical_topics(&settings.kafka, &args.topics) {
        ranges.extend(kafka.ranges(&topic, args.from, args.key.as_deref())?);
    }
    let total: i64 = ranges.iter().map(|r| r.end - r.start).sum();
    let progress = Progress::new(if args.follow { 0 } else { total as u64 }, "reading");
    let mut reader = kafka.reader(&ranges, args.follow)?;
    if !out.is_json() {
        out.line(format!(
            "{:<20} {:<24} {:<36} {:<20} {:<32} VALUE",
            "POSITION", "TIME", "KEY", "TYPE", "TRACE"
        ))?;
    }
    let mut shown = 0;
    while args.limit.is_none_or(|limit| shown < limit) {
        let Some(message) = reader.next().await? else {
            break;
        };
        progress.inc(1);
        if let Some(key) = &args.key {
            if rdkafka::Message::key(&message) != Some(key.as_bytes()) {
                continue;
            }
        }
        let record = Record::decode(&registry, &message).await;
        if let Some(wanted) = args.event_type {
            if record.event.as_ref().map(|e| e.event_type()) != Some(wanted) {
                continue;
            }
        }
        shown += 1;
        progress.suspend(|| show(out, &record))?;
    }
    progress.finish();
    Ok(())
}

fn show(out: &Out, record: &Record) -> std::io::Result<()> {
    if out.is_json() {
        return out.json(record);
    }
    let dlq: Vec<String> = record
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("dlq."))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut detail = record.detail();
    if !dlq.is_empty() {
        detail = format!("{} {detail}", dlq.join(" "));
    }
    out.line(format!(
        "{:<20} {:<24} {:<36} {:<20} {:<32} {detail}",
        record.position(),
        record.timestamp.as_deref().unwrap_or("-"),
        record.key.as_deref().unwrap_or("-"),
        record.short_type(),
        record.trace_id.as_deref().unwrap_or("-"),
    ))
}
