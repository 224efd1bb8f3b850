//! `WatchOrder`: the order now, then the order after each change, over one server stream.
//!
//! The stream is a [`Follower`] driven by tonic polling the stream: no task and no polling per
//! watcher; each stream sleeps in the instance's [`crate::watch::Watchers`] until the
//! projector's NOTIFY (from whichever instance applied the change) names its order. Wake-ups
//! that come faster than the client reads are coalesced: the client may skip an intermediate
//! view but always gets the latest.
//!
//! It ends:
//! - with OK after a final view (DELIVERED or CANCELLED);
//! - when the client leaves (tonic drops the stream, and with it the registration);
//! - with DEADLINE_EXCEEDED when the client's deadline (`grpc-timeout`) passes: tonic
//!   enforces it only until the response starts, so a stream keeps it itself;
//! - with UNAVAILABLE when the instance stops, so the client watches again elsewhere;
//! - with the core error's status when the view cannot be read.

use super::convert;
use crate::core::{follow::Follower, query::OrderView};
use futures::{stream, Stream};
use orderflow_proto::v1::Order;
use std::{pin::Pin, time::Duration};
use tokio::time::Instant;
use tonic::{metadata::MetadataMap, Status};

pub type OrderStream = Pin<Box<dyn Stream<Item = Result<Order, Status>> + Send>>;

/// When the call's `grpc-timeout` (`<1-8 digits><H|M|S|m|u|n>`, from the gRPC over HTTP/2
/// spec) expires, counted from now; `None` without one (or with one that does not parse,
/// which tonic ignores too).
pub fn deadline(metadata: &MetadataMap) -> Option<Instant> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let timeout = match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    };
    Some(Instant::now() + timeout)
}

/// The stream of `follower`'s order, starting with `now`, until `deadline` if there is one.
pub fn order_stream(follower: Follower, now: OrderView, deadline: Option<Instant>) -> OrderStream {
    struct State {
        follower: Follower,
        /// The view to send next without waiting (the first one).
        pending: Option<OrderView>,
        deadline: Option<Instant>,
        ended: bool,
    }
    let state = State {
        follower,
        pending: Some(now),
        deadline,
        ended: false,
    };
    Box::pin(stream::unfold(state, |mut state| async move {
        if state.ended {
            return None;
        }
        let view = match state.pending.take() {
            Some(view) => view,
            None => match next_before(&mut state.follower, state.deadline).await {
                Err(expired) => {
                    state.ended = true;
                    return Some((Err(expired), state));
                }
                Ok(Ok(Some(view))) => view,
                Ok(Ok(None)) => {
                    state.ended = true;
                    let stopping = Status::unavailable("the instance is stopping: watch again");
                    return Some((Err(stopping), state));
                }
                Ok(Err(e)) => {
                    state.ended = true;
                    return Some((Err(e.into()), state));
                }
            },
        };
        state.ended = convert::is_final(&view);
        Some((Ok(convert::order(view)), state))
    }))
}

/// The follower's next view, or DEADLINE_EXCEEDED once `deadline` has passed.
async fn next_before(
    follower: &mut Follower,
    deadline: Option<Instant>,
) -> Result<Result<Option<OrderView>, crate::core::OrderError>, Status> {
    let Some(deadline) = deadline else {
        return Ok(follower.next().await);
    };
    tokio::time::timeout_at(deadline, follower.next())
        .await
        .map_err(|_| Status::deadline_exceeded("the call's deadline passed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout_of(value: &str) -> Option<Duration> {
        let mut metadata = MetadataMap::new();
        metadata.insert("grpc-timeout", value.parse().unwrap());
        let now = Instant::now();
        deadline(&metadata).map(|d| d - now)
    }

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        let close = |value, expected: Duration| {
            let got = timeout_of(value).unwrap_or_else(|| panic!("{value} parses"));
            assert!(
                got.abs_diff(expected) < Duration::from_millis(100),
                "{value}: {got:?}"
            );
        };
        close("2H", Duration::from_secs(7200));
        close("3M", Duration::from_secs(180));
        close("10S", Duration::from_secs(10));
        close("1500m", Duration::from_millis(1500));
        close("99999999u", Duration::from_micros(99_999_999));
        close("5n", Duration::from_nanos(5));
    }

    #[test]
    fn malformed_grpc_timeouts_are_ignored() {
        for value in ["", "S", "10", "10s", "123456789S", "-1S", "1.5S"] {
            assert_eq!(timeout_of(value), None, "{value:?}");
        }
        assert!(deadline(&MetadataMap::new()).is_none());
    }
}
