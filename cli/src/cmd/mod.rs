//! One subcommand per file; each takes its parsed arguments, the settings and the output.

pub mod dlq;
pub mod events;
pub mod offsets;
pub mod order;
pub mod replay;

use schemas::EventType;

/// `--type`: an event type by its short (`OrderPlaced`) or full (`orderflow.orders.OrderPlaced`)
/// name.
pub fn parse_event_type(s: &str) -> Result<EventType, String> {
    EventType::ALL
        .iter()
        .copied()
        .find(|t| {
            let full = t.full_name();
            full == s || full.rsplit('.').next() == Some(s)
        })
        .ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL
                .iter()
                .filter_map(|t| t.full_name().rsplit('.').next())
                .collect();
            format!("unknown event type {s:?}; known: {}", known.join(", "))
        })
}

/// The contract topics, or the names given, with the deployment's namespace applied.
pub fn physical_topics(kafka: &platform::config::KafkaSettings, given: &[String]) -> Vec<String> {
    if given.is_empty() {
        schemas::Topic::ALL
            .iter()
            .map(|t| kafka.topic(t.name()))
            .collect()
    } else {
        given.iter().map(|t| kafka.topic(t)).collect()
    }
}

/// An RFC 3339 time as milliseconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("{s:?} is not an RFC 3339 time: {e}"))
}
