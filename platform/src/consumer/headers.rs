//! Message headers as strings.

use rdkafka::message::{Headers, Message};
use std::collections::HashMap;

/// The header `name` of a message, if it has a UTF-8 one: one header without building the map
/// of all of them ([`header_map`]).
pub fn header(message: &impl Message, name: &str) -> Option<String> {
    message.headers().and_then(|h| {
        h.iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned)
    })
}

/// Headers of a message as owned strings (non-UTF-8 values skipped); used by tests and tools.
pub fn header_map(message: &impl Message) -> HashMap<String, String> {
    message
        .headers()
        .map(|h| {
            h.iter()
                .filter_map(|h| {
                    Some((
                        h.key.to_owned(),
                        std::str::from_utf8(h.value?).ok()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}
