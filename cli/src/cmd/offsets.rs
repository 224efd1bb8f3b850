//! `orderflow offsets`: where each consumer group stands; `offsets reset` moves one.
//!
//! A reset is planned first (current → new per partition) and changes nothing without
//! `--execute`. It is committed as the group's offsets by a client that does not join the
//! group, which Kafka accepts only while the group has no members: the tool refuses while
//! any member is active, naming them, rather than let the running consumers overwrite the
//! reset with their next commit.

use crate::{
    kafka::{Kafka, Start},
    output::Out,
    settings::Settings,
    CliError,
};
use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer},
    Offset, TopicPartitionList,
};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct OffsetsArgs {
    /// Only this group (contract name, e.g. `order-status-projector`).
    #[arg(long)]
    pub group: Option<String>,
    #[command(subcommand)]
    pub command: Option<OffsetsCommand>,
}

#[derive(Debug, clap::Subcommand)]
pub enum OffsetsCommand {
    /// Plan (and with --execute, commit) new offsets for a stopped group.
    Reset(ResetArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["to", "shift_by"])))]
pub struct ResetArgs {
    /// The group to move (contract name).
    #[arg(long)]
    pub group: String,
    /// `earliest`, `latest` or an RFC 3339 time.
    #[arg(long, value_name = "WHERE")]
    pub to: Option<Start>,
    /// Move every partition by this many records (negative: back), within what is held.
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub shift_by: Option<i64>,
    /// Only this topic (contract name); repeatable. Default: the topics the group has
    /// offsets on.
    #[arg(long = "topic", value_name = "TOPIC")]
    pub topics: Vec<String>,
    /// Commit the plan. Without it nothing changes.
    #[arg(long)]
    pub execute: bool,
}

#[derive(Debug, Serialize)]
struct Position {
    group: String,
    topic: String,
    partition: i32,
    committed: Option<i64>,
    end: i64,
    lag: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Move {
    group: String,
    topic: String,
    partition: i32,
    current: Option<i64>,
    new: i64,
    executed: bool,
}

pub async fn run(settings: &Settings, out: &Out, args: OffsetsArgs) -> Result<(), CliError> {
    let kafka = Kafka::connect(&settings.kafka)?;
    match args.command {
        Some(OffsetsCommand::Reset(reset)) => run_reset(&kafka, out, reset),
        None => list(&kafka, out, args.group.as_deref()),
    }
}

fn list(kafka: &Kafka, out: &Out, group: Option<&str>) -> Result<(), CliError> {
    let groups = match group {
        Some(g) => vec![kafka.settings.group(g)],
        None => groups(kafka)?,
    };
    let mut positions = Vec::new();
    for group in groups {
        for topic in super::physical_topics(&kafka.settings, &[]) {
            for (partition, committed) in committed(kafka, &group, &topic)? {
                let end = kafka.watermarks(&topic, partition)?.1;
                if committed.is_some() {
                    positions.push(Position {
                        group: group.clone(),
                        topic: topic.clone(),
                        partition,
                        committed,
                        end,
                        lag: committed.map(|c| end - c),
                    });
                }
            }
        }
    }
    if out.is_json() {
        for p in &positions {
            out.json(p)?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = positions
        .iter()
        .map(|p| {
            vec![
                p.group.clone(),
                p.topic.clone(),
                p.partition.to_string(),
                opt(p.committed),
                p.end.to_string(),
                opt(p.lag),
            ]
        })
        .collect();
    Ok(out.table(
        &["GROUP", "TOPIC", "PARTITION", "COMMITTED", "END", "LAG"],
        &rows,
    )?)
}

fn opt(v: Option<i64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The consumer groups of this deployment's namespace that the cluster knows.
fn groups(kafka: &Kafka) -> Result<Vec<String>, CliError> {
    let consumer = group_client(kafka, "orderflow-cli-list")?;
    let list = consumer
        .fetch_group_list(None, crate::settings::CONNECT_TIMEOUT)
        .map_err(|source| kafka_error(kafka, "group list", source))?;
    let mut names: Vec<String> = list
        .groups()
        .iter()
        .map(|g| g.name().to_owned())
        .filter(|n| n.starts_with(&kafka.settings.namespace))
        .collect();
    names.sort();
    Ok(names)
}

fn kafka_error(kafka: &Kafka, what: &str, source: rdkafka::error::KafkaError) -> CliError {
    kafka.failed(what.to_owned())(source)
}

/// A client carrying `group` as its group id, which never subscribes (so never joins it):
/// it only reads and commits the group's offsets.
fn group_client(kafka: &Kafka, group: &str) -> Result<BaseConsumer, CliError> {
    platform::kafka::client_config(&kafka.settings)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|source| kafka_error(kafka, "group client", source))
}

/// `group`'s committed offset of each partition of `topic` (`None`: nothing committed).
fn committed(kafka: &Kafka, group: &str, topic: &str) -> Result<Vec<(i32, Option<i64>)>, CliError> {
    let mut list = TopicPartitionList::new();
    for partition in kafka.partitions(topic)? {
        list.add_partition(topic, partition);
    }
    let consumer = group_client(kafka, group)?;
    let committed = consumer
        .committed_offsets(list, crate::settings::CONNECT_TIMEOUT)
        .map_err(|source| kafka_error(kafka, &format!("offsets of {group}"), source))?;
    Ok(committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => (e.partition(), Some(o)),
            _ => (e.partition(), None),
        })
        .collect())
}

/// The active members of `group`, as `member id (client id @ host)`.
fn members(kafka: &Kafka, group: &str) -> Result<Vec<String>, CliError> {
    let consumer = group_client(kafka, group)?;
    let list = consumer
        .fetch_group_list(Some(group), crate::settings::CONNECT_TIMEOUT)
        .map_err(|source| kafka_error(kafka, &format!("members of {group}"), source))?;
    Ok(list
        .groups()
        .iter()
        .flat_map(|g| g.members())
        .map(|m| format!("{} ({} @ {})", m.id(), m.client_id(), m.client_host()))
        .collect())
}

fn run_reset(kafka: &Kafka, out: &Out, args: ResetArgs) -> Result<(), CliError> {
    let group = kafka.settings.group(&args.group);
    let active = members(kafka, &group)?;
    if args.execute && !active.is_empty() {
        return Err(CliError::Refused(format!(
            "group {group} has {} active member(s); stop them first: {}",
            active.len(),
            active.join(", ")
        )));
    }
    let mut plan = Vec::new();
    for topic in super::physical_topics(&kafka.settings, &args.topics) {
        let current = committed(kafka, &group, &topic)?;
        // Without --topic, only topics the group consumes (has offsets on).
        if args.topics.is_empty() && current.iter().all(|(_, c)| c.is_none()) {
            continue;
        }
        for (partition, current) in current {
            // clap requires one of --to and --shift-by.
            let new = match (args.to, args.shift_by) {
                (Some(to), _) => kafka.range(&topic, partition, to)?.start,
                (None, shift) => {
                    let Some(current) = current else { continue };
                    let (low, high) = kafka.watermarks(&topic, partition)?;
                    (current + shift.unwrap_or_default()).clamp(low, high)
                }
            };
            plan.push(Move {
                group: group.clone(),
                topic: topic.clone(),
                partition,
                current,
                new,
                executed: false,
            });
        }
    }
    if plan.is_empty() {
        return Err(CliError::Refused(format!(
            "group {group} has no committed offsets on these topics; name them with --topic"
        )));
    }
    if args.execute {
        let mut list = TopicPartitionList::new();
        for m in &plan {
            list.add_partition_offset(&m.topic, m.partition, Offset::Offset(m.new))
                .map_err(|source| kafka_error(kafka, "planning the reset", source))?;
        }
        group_client(kafka, &group)?
            .commit(&list, CommitMode::Sync)
            .map_err(|source| {
                kafka_error(kafka, &format!("committing offsets of {group}"), source)
            })?;
        plan.iter_mut().for_each(|m| m.executed = true);
    }
    if out.is_json() {
        for m in &plan {
            out.json(m)?;
        }
        return Ok(());
    }
    let rows: Vec<Vec<String>> = plan
        .iter()
        .map(|m| {
            vec![
                m.topic.clone(),
                m.partition.to_string(),
                format!("{} -> {}", opt(m.current), m.new),
            ]
        })
        .collect();
    out.table(&["TOPIC", "PARTITION", "CURRENT -> NEW"], &rows)?;
    if args.execute {
        out.line(format!("committed for group {group}"))?;
    } else {
        out.line("dry run: nothing changed; add --execute to commit")?;
        if !active.is_empty() {
            out.line(format!(
                "note: --execute would be refused, active members: {}",
                active.join(", ")
            ))?;
        }
    }
    Ok(())
}
