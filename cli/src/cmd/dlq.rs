//! `orderflow dlq list|show|redrive --group G`: the dead letters of a consumer group.
//!
//! # Redrive
//! A redriven record goes back to the topic it came from (`dlq.original.topic`) with the
//! original key, value and headers (the `dlq.*` ones removed) plus `dlq.redriven_from =
//! <dlq topic>/<partition>/<offset>`. That header is also the record of what was redriven: the
//! same key lands in the same partition, so before publishing the tool reads that partition
//! from the dead letter's time on and skips every dead letter whose coordinates it finds there.
//! A second run therefore republishes nothing, without any state outside Kafka; and were a
//! record republished twice anyway, the consumers' inboxes drop the repeat by `event_id`.
//! A dead letter that is itself a redriven copy (it carries `dlq.redriven_from`: its cause was
//! not fixed) is left alone by `--key` and `--all`, so a persistent failure cannot loop; naming
//! it with `--offset` sends it again. Without `--execute` it only prints what it would do.

use crate::{
    kafka::{Kafka, Start},
    output::Out,
    record::Record,
    settings::Settings,
    CliError,
};
use rdkafka::{
    message::{Header, Message, OwnedHeaders, OwnedMessage},
    producer::FutureRecord,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, clap::Args)]
pub struct DlqArgs {
    #[command(subcommand)]
    pub command: DlqCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// The dead letters of a group, oldest first.
    List {
        /// The consumer group (contract name) whose `<group>.dlq` to read.
        #[arg(long)]
        group: String,
        /// Only dead letters with this key (an order id).
        #[arg(long)]
        key: Option<String>,
    },
    /// One dead letter in full: every header and the decoded value.
    Show {
        /// The consumer group (contract name) whose `<group>.dlq` to read.
        #[arg(long)]
        group: String,
        /// Its offset in the dead-letter topic.
        #[arg(long)]
        offset: i64,
    },
    /// Republish dead letters to their original topic (dry run unless --execute).
    #[command(group(clap::ArgGroup::new("which").required(true).args(["offset", "key", "all"])))]
    Redrive {
        /// The consumer group (contract name) whose `<group>.dlq` to redrive.
        #[arg(long)]
        group: String,
        /// This dead letter (offset in the dead-letter topic); repeatable.
        #[arg(long)]
        offset: Vec<i64>,
        /// Every dead letter with this key.
        #[arg(long)]
        key: Option<String>,
        /// Every dead letter of the group.
        #[arg(long)]
        all: bool,
        /// Publish. Without it nothing is published.
        #[arg(long)]
        execute: bool,
    },
}

/// A dead letter's fate in a redrive.
#[derive(Debug, Serialize)]
struct Redrive {
    dead_letter: String,
    key: Option<String>,
    event_type: String,
    to_topic: String,
    /// `would redrive`, `redriven`, `already redriven`, or `failed again after a redrive`
    /// (a dead letter that is itself a redriven copy: sent again only when named by offset).
    action: &'static str,
    /// Where the republished record is (this run's or an earlier one's).
    at: Option<String>,
}

pub async fn run(settings: &Settings, out: &Out, args: DlqArgs) -> Result<(), CliError> {
    let kafka = Kafka::connect(&settings.kafka)?;
    let registry = settings.registry().await?;
    let group = match &args.command {
        DlqCommand::List { group, .. }
        | DlqCommand::Show { group, .. }
        | DlqCommand::Redrive { group, .. } => group,
    };
    let topic = kafka.settings.topic(&schemas::dead_letter_topic(group));
    let ranges = kafka.ranges(&topic, Start::Earliest, None)?;
    let mut reader = kafka.reader(&ranges, false)?;
    let mut dead = Vec::new();
    while let Some(message) = reader.next().await? {
        dead.push(message);
    }
    dead.sort_by_key(|m| (m.partition(), m.offset()));

    match args.command {
        DlqCommand::List { key, .. } => {
            let mut rows = Vec::new();
            for m in dead.iter().filter(|m| has_key(m, key.as_deref())) {
                let record = Record::decode(&registry, m).await;
                if out.is_json() {
                    out.json(&record)?;
                    continue;
                }
                let h = |name: &str| record.headers.get(name).cloned().unwrap_or_default();
                rows.push(vec![
                    record.offset.to_string(),
                    record.timestamp.clone().unwrap_or_default(),
                    record.key.clone().unwrap_or_default(),
                    record.short_type().to_owned(),
                    format!(
                        "{}[{}]@{}",
                        h("dlq.original.topic"),
                        h("dlq.original.partition"),
                        h("dlq.original.offset")
                    ),
                    h("dlq.error.class"),
                    h("dlq.error.message"),
                ]);
            }
            if !out.is_json() {
                out.table(
                    &["OFFSET", "TIME", "KEY", "TYPE", "FROM", "CLASS", "REASON"],
                    &rows,
                )?;
            }
        }
        DlqCommand::Show { offset, .. } => {
            let message = dead.iter().find(|m| m.offset() == offset).ok_or_else(|| {
                CliError::Refused(format!("{topic} has no record at offset {offset}"))
            })?;
            let record = Record::decode(&registry, message).await;
            if out.is_json() {
                out.json(&record)?;
            } else {
                out.line(serde_json::to_string_pretty(&record).expect("a record serializes"))?;
            }
        }
        DlqCommand::Redrive {
            offset,
            key,
            all,
            execute,
            ..
        } => {
            let chosen: Vec<&OwnedMessage> = dead
                .iter()
                .filter(|m| {
                    all || offset.contains(&m.offset())
                        || (key.is_some() && has_key(m, key.as_deref()))
                })
                .collect();
            let done = already_redriven(&kafka, &chosen).await?;
            let producer = match execute {
                true => Some(
                    platform::kafka::producer(&kafka.settings)
                        .map_err(kafka.failed("producer could not be created".into()))?,
                ),
                false => None,
            };
            let mut fates = Vec::new();
            for m in chosen {
                let coordinates = coordinates(m);
                let record = Record::decode(&registry, m).await;
                let to_topic = record
                    .headers
                    .get("dlq.original.topic")
                    .cloned()
                    .unwrap_or_default();
                let mut fate = Redrive {
                    dead_letter: coordinates.clone(),
                    key: record.key.clone(),
                    event_type: record.short_type().to_owned(),
                    to_topic: to_topic.clone(),
                    action: "would redrive",
                    at: done.get(&coordinates).cloned(),
                };
                let again = record.headers.contains_key("dlq.redriven_from");
                if fate.at.is_some() {
                    fate.action = "already redriven";
                } else if again && !offset.contains(&m.offset()) {
                    // A redriven copy that failed again: its cause persists. Only an explicit
                    // --offset sends it once more.
                    fate.action = "failed again after a redrive; fix the cause, then --offset";
                } else if let Some(producer) = &producer {
                    let (partition, offset) = republish(producer, m, &to_topic, &coordinates)
                        .await
                        .map_err(
                            kafka.failed(format!("republishing {coordinates} to {to_topic}")),
                        )?;
                    fate.action = "redriven";
                    fate.at = Some(format!("{to_topic}[{partition}]@{offset}"));
                }
                fates.push(fate);
            }
            if out.is_json() {
                for f in &fates {
                    out.json(f)?;
                }
            } else {
                let rows: Vec<Vec<String>> = fates
                    .iter()
                    .map(|f| {
                        vec![
                            f.dead_letter.clone(),
                            f.key.clone().unwrap_or_default(),
                            f.event_type.clone(),
                            f.action.to_owned(),
                            f.at.clone().unwrap_or_else(|| f.to_topic.clone()),
                        ]
                    })
                    .collect();
                out.table(&["DEAD LETTER", "KEY", "TYPE", "ACTION", "TO"], &rows)?;
                if !execute {
                    out.line("dry run: nothing published; add --execute to redrive")?;
                }
            }
        }
    }
    Ok(())
}

fn has_key(message: &OwnedMessage, key: Option<&str>) -> bool {
    key.is_none_or(|k| message.key() == Some(k.as_bytes()))
}

/// `<dlq topic>/<partition>/<offset>`: the value of `dlq.redriven_from`.
fn coordinates(message: &OwnedMessage) -> String {
    format!(
        "{}/{}/{}",
        message.topic(),
        message.partition(),
        message.offset()
    )
}

/// The dead letters among `chosen` that were redriven before, with where the copy is: read
/// from each target partition, from the oldest chosen dead letter's time on.
async fn already_redriven(
    kafka: &Kafka,
    chosen: &[&OwnedMessage],
) -> Result<HashMap<String, String>, CliError> {
    // (topic, key's partition) -> the earliest time to read from.
    let mut targets: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for m in chosen {
        let headers = platform::consumer::header_map(*m);
        let (Some(topic), Some(key)) = (headers.get("dlq.original.topic"), m.key()) else {
            continue;
        };
        let partitions = kafka.partitions(topic)?.len() as i32;
        let partition = platform::kafka::partition_for_key(key, partitions);
        let millis = m.timestamp().to_millis().unwrap_or_default();
        let since = targets.entry((topic.clone(), partition)).or_insert(millis);
        *since = (*since).min(millis);
    }
    let mut ranges = Vec::new();
    for ((topic, partition), millis) in targets {
        ranges.push(kafka.range(&topic, partition, Start::Time(millis))?);
    }
    let mut reader = kafka.reader(&ranges, false)?;
    let mut found = HashMap::new();
    while let Some(m) = reader.next().await? {
        if let Some(from) = platform::consumer::header(&m, "dlq.redriven_from") {
            found.insert(
                from,
                format!("{}[{}]@{}", m.topic(), m.partition(), m.offset()),
            );
        }
    }
    Ok(found)
}

/// Publishes a dead letter's key, value and original headers to `topic`, marked with
/// `dlq.redriven_from`; returns where it landed.
async fn republish(
    producer: &rdkafka::producer::FutureProducer,
    dead: &OwnedMessage,
    topic: &str,
    coordinates: &str,
) -> Result<(i32, i64), rdkafka::error::KafkaError> {
    use rdkafka::message::Headers;
    let mut headers = OwnedHeaders::new();
    if let Some(original) = dead.headers() {
        for h in original.iter().filter(|h| !h.key.starts_with("dlq.")) {
            headers = headers.insert(Header {
                key: h.key,
                value: h.value,
            });
        }
    }
    headers = headers.insert(Header {
        key: "dlq.redriven_from",
        value: Some(coordinates),
    });
    let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).headers(headers);
    if let Some(key) = dead.key() {
        record = record.key(key);
    }
    if let Some(payload) = dead.payload() {
        record = record.payload(payload);
    }
    let delivered = producer
        .send(
            record,
            rdkafka::util::Timeout::After(std::time::Duration::from_secs(10)),
        )
        .await
        .map_err(|(e, _)| e)?;
    Ok((delivered.partition, delivered.offset))
}
