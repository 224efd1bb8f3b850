//! Reading Kafka without disturbing the platform.
//!
//! Every read is by **assignment**: the tool names the partitions and start offsets itself, joins
//! no consumer group (its group id is a formality of librdkafka) and commits nothing, so the groups the services run never rebalance or see
//! their offsets move because someone looked. A bounded read stops at the end offsets seen when
//! it started (new records are left to `--follow`).

use crate::{settings::CONNECT_TIMEOUT, CliError};
use platform::config::KafkaSettings;
use rdkafka::{
    consumer::{BaseConsumer, Consumer, StreamConsumer},
    message::{Message, OwnedMessage},
    Offset, TopicPartitionList,
};
use std::time::Duration;

/// How long a bounded read waits for the next record before it takes the partitions as read:
/// only reached when records between the start and the end offsets vanished (retention).
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to start reading a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Earliest,
    Latest,
    /// The first record at or after this time (milliseconds since the epoch).
    Time(i64),
    /// This offset of this partition only.
    At {
        partition: i32,
        offset: i64,
    },
}

impl std::str::FromStr for Start {
    type Err = String;

    /// `earliest`, `latest`, an RFC 3339 time or `<partition>:<offset>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "earliest" => return Ok(Start::Earliest),
            "latest" => return Ok(Start::Latest),
            _ => {}
        }
        if let Ok(millis) = crate::cmd::parse_time(s) {
            return Ok(Start::Time(millis));
        }
        if let Some((p, o)) = s.split_once(':') {
            if let (Ok(partition), Ok(offset)) = (p.parse(), o.parse()) {
                return Ok(Start::At { partition, offset });
            }
        }
        Err(format!(
            "{s:?} is not earliest, latest, an RFC 3339 time or <partition>:<offset>"
        ))
    }
}

/// One partition's slice to read: from `start` up to (excluding) `end`.
#[derive(Clone, Debug)]
pub struct Range {
    pub topic: String,
    pub partition: i32,
    pub start: i64,
    pub end: i64,
}

/// Metadata and offsets of the cluster, asked with a deadline.
pub struct Kafka {
    pub settings: KafkaSettings,
    client: BaseConsumer,
}

impl Kafka {
    /// Connects and checks within [`CONNECT_TIMEOUT`] that the cluster answers.
    pub fn connect(settings: &KafkaSettings) -> Result<Kafka, CliError> {
        let client: BaseConsumer = platform::kafka::client_config(settings)
            .set("socket.connection.setup.timeout.ms", "4000")
            .create()
            .map_err(|source| CliError::Kafka {
                address: settings.bootstrap_servers.clone(),
                what: "client could not be created".into(),
                source: source.into(),
            })?;
        let kafka = Kafka {
            settings: settings.clone(),
            client,
        };
        // One named topic keeps the answer small on a cluster shared by many namespaces.
        kafka
            .client
            .fetch_metadata(Some(&settings.topic("orders")), CONNECT_TIMEOUT)
            .map_err(|e| CliError::KafkaUnreachable {
                address: settings.bootstrap_servers.clone(),
                reason: e.to_string(),
            })?;
        Ok(kafka)
    }

    /// Maps a client error to one naming the cluster and `what` was being done.
    pub fn failed(&self, what: String) -> impl FnOnce(rdkafka::error::KafkaError) -> CliError + '_ {
        move |source| CliError::Kafka {
            address: self.settings.bootstrap_servers.clone(),
            what,
            source: source.into(),
        }
    }

    /// The partitions of `topic`; [`CliError::NoSuchTopic`] when it does not exist.
    pub fn partitions(&self, topic: &str) -> Result<Vec<i32>, CliError> {
        let metadata = self
            .client
            .fetch_metadata(Some(topic), CONNECT_TIMEOUT)
            .map_err(self.failed(format!("metadata of {topic}")))?;
        let found = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty());
        match found {
            Some(t) => Ok(t.partitions().iter().map(|p| p.id()).collect()),
            None => Err(CliError::NoSuchTopic(topic.to_owned())),
        }
    }

    /// Every topic of this deployment's namespace whose name ends in `.dlq`.
    pub fn dead_letter_topics(&self) -> Result<Vec<String>, CliError> {
        let metadata = self
            .client
            .fetch_metadata(None, CONNECT_TIMEOUT)
            .map_err(self.failed("topic list".into()))?;
        let namespace = &self.settings.namespace;
        let mut topics: Vec<String> = metadata
            .topics()
            .iter()
            .map(|t| t.name())
            // `<namespace><group>.dlq`; group names hold no dot, so other namespaces' topics
            // (`<other namespace>.<group>.dlq`) stay out when the namespace is empty.
            .filter(|n| {
                n.strip_prefix(namespace.as_str())
                    .and_then(|rest| rest.strip_suffix(".dlq"))
                    .is_some_and(|group| !group.is_empty() && !group.contains('.'))
            })
            .map(str::to_owned)
            .collect();
        topics.sort();
        Ok(topics)
    }

    /// (low, high) watermarks: the first offset still held and the next offset to be written.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), CliError> {
        self.client
            .fetch_watermarks(topic, partition, CONNECT_TIMEOUT)
            .map_err(self.failed(format!("end offsets of {topic}[{partition}]")))
    }

    /// The first offset of `partition` whose record is at or after `millis`; the high
    /// watermark when there is none.
    pub fn offset_for_time(
        &self,
        topic: &str,
        partition: i32,
        millis: i64,
    ) -> Result<i64, CliError> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(millis))
            .map_err(self.failed(format!("offset for time of {topic}[{partition}]")))?;
        let found = self
            .client
            .offsets_for_times(list, CONNECT_TIMEOUT)
            .map_err(self.failed(format!("offset for time of {topic}[{partition}]")))?;
        match found.find_partition(topic, partition).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => Ok(o),
            _ => Ok(self.watermarks(topic, partition)?.1),
        }
    }

    /// The slice of `partition` from `start` to the current end (empty for `Latest`).
    pub fn range(&self, topic: &str, partition: i32, start: Start) -> Result<Range, CliError> {
        let (low, high) = self.watermarks(topic, partition)?;
        let start = match start {
            Start::Earliest => low,
            Start::Latest => high,
            Start::Time(millis) => self.offset_for_time(topic, partition, millis)?,
            Start::At { offset, .. } => offset.clamp(low, high),
        };
        Ok(Range {
            topic: topic.to_owned(),
            partition,
            start,
            end: high,
        })
    }

    /// The ranges of `topic` from `start`: every partition, or only the one `key` hashes to
    /// (the producer's partitioner), or only the one `Start::At` names.
    pub fn ranges(
        &self,
        topic: &str,
        start: Start,
        key: Option<&str>,
    ) -> Result<Vec<Range>, CliError> {
        let all = self.partitions(topic)?;
        let count = all.len() as i32;
        let mut ranges = Vec::new();
        for partition in all {
            let keyed = key.is_none_or(|k| {
                platform::kafka::partition_for_key(k.as_bytes(), count) == partition
            });
            let named = match start {
                Start::At { partition: p, .. } => p == partition,
                _ => true,
            };
            if keyed && named {
                ranges.push(self.range(topic, partition, start)?);
            }
        }
        Ok(ranges)
    }

    /// A reader of `ranges`; with `follow`, it goes on past their ends and never finishes.
    pub fn reader(&self, ranges: &[Range], follow: bool) -> Result<Reader, CliError> {
        let consumer: StreamConsumer = platform::kafka::client_config(&self.settings)
            // librdkafka wants a group id even to assign; the reader never subscribes (joins)
            // and never commits, so the group never exists on the cluster. Namespaced like
            // every group: that is the name a secured cluster's ACLs grant the tool.
            .set("group.id", self.settings.group("orderflow-cli"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .create()
            .map_err(self.failed("reader could not be created".into()))?;
        let mut list = TopicPartitionList::new();
        let mut partitions = Vec::new();
        for r in ranges {
            if follow || r.start < r.end {
                list.add_partition_offset(&r.topic, r.partition, Offset::Offset(r.start))
                    .map_err(self.failed(format!("assigning {}[{}]", r.topic, r.partition)))?;
                partitions.push(Assigned {
                    partition: (r.topic.clone(), r.partition),
                    end: r.end,
                    reading: true,
                });
            }
        }
        if list.count() > 0 {
            consumer
                .assign(&list)
                .map_err(self.failed("assigning partitions".into()))?;
        }
        Ok(Reader {
            consumer,
            reading: partitions.len(),
            partitions,
            follow,
            address: self.settings.bootstrap_servers.clone(),
        })
    }
}

/// Records of assigned partitions, in the order Kafka delivers them (per partition in offset
/// order).
pub struct Reader {
    consumer: StreamConsumer,
    /// Every partition assigned, in the order of the ranges given: a few dozen at most, looked
    /// up by the name each record borrows. A partition's index here is its **slot**.
    partitions: Vec<Assigned>,
    /// How many of them have records left to deliver before their ends.
    reading: usize,
    follow: bool,
    address: String,
}

struct Assigned {
    partition: (String, i32),
    end: i64,
    reading: bool,
}

impl Reader {
    /// The (topic, partition) of each slot.
    pub fn partitions(&self) -> impl ExactSizeIterator<Item = &(String, i32)> {
        self.partitions.iter().map(|a| &a.partition)
    }

    /// Whether the partition in `slot` has records left to deliver before its end.
    pub fn is_reading(&self, slot: usize) -> bool {
        self.partitions[slot].reading
    }

    /// The next record; `None` once every partition reached its end (never with `follow`).
    pub async fn next(&mut self) -> Result<Option<OwnedMessage>, CliError> {
        Ok(self.next_slotted().await?.map(|(_, message)| message))
    }

    /// The next record with the slot of its partition; `None` once every partition reached
    /// its end (never with `follow`).
    pub async fn next_slotted(&mut self) -> Result<Option<(usize, OwnedMessage)>, CliError> {
        loop {
            if !self.follow && self.reading == 0 {
                return Ok(None);
            }
            let received = if self.follow {
                self.consumer.recv().await
            } else {
                match tokio::time::timeout(IDLE_TIMEOUT, self.consumer.recv()).await {
                    Ok(received) => received,
                    Err(_) => {
                        self.partitions.iter_mut().for_each(|a| a.reading = false);
                        self.reading = 0;
                        return Ok(None);
                    }
                }
            };
            let message = received.map_err(|source| CliError::Kafka {
                address: self.address.clone(),
                what: "reading".into(),
                source: source.into(),
            })?;
            let (topic, partition) = (message.topic(), message.partition());
            let Some(slot) = self
                .partitions
                .iter()
                .position(|a| a.partition.0 == topic && a.partition.1 == partition)
            else {
                continue; // not assigned (never delivered)
            };
            if self.follow {
                return Ok(Some((slot, message.detach())));
            }
            let assigned = &mut self.partitions[slot];
            if !assigned.reading {
                continue; // past the end of a finished partition
            }
            if message.offset() + 1 >= assigned.end {
                assigned.reading = false;
                self.reading -= 1;
            }
            if message.offset() < assigned.end {
                return Ok(Some((slot, message.detach())));
            }
        }
    }
}
