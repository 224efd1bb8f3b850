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
//! - with UNAVAILABLE when the instance stops, so the client watches again elsewhere;
//! - with the core error's status when the view cannot be read.

use super::convert;
use crate::core::{follow::Follower, query::OrderView};
use futures::{stream, Stream};
use orderflow_proto::v1::Order;
use std::pin::Pin;
use tonic::Status;

pub type OrderStream = Pin<Box<dyn Stream<Item = Result<Order, Status>> + Send>>;

/// The stream of `follower`'s order, starting with `now`.
pub fn order_stream(follower: Follower, now: OrderView) -> OrderStream {
    struct State {
        follower: Follower,
        /// The view to send next without waiting (the first one).
        pending: Option<OrderView>,
        ended: bool,
    }
    let state = State {
        follower,
        pending: Some(now),
        ended: false,
    };
    Box::pin(stream::unfold(state, |mut state| async move {
        if state.ended {
            return None;
        }
        let view = match state.pending.take() {
            Some(view) => view,
            None => match state.follower.next().await {
                Ok(Some(view)) => view,
                Ok(None) => {
                    state.ended = true;
                    let stopping = Status::unavailable("the instance is stopping: watch again");
                    return Some((Err(stopping), state));
                }
                Err(e) => {
                    state.ended = true;
                    return Some((Err(e.into()), state));
                }
            },
        };
        state.ended = convert::is_final(&view);
        Some((Ok(convert::order(view)), state))
    }))
}
