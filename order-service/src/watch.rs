//! Wake-ups for long polls: `GET /orders/{id}` with `Prefer: wait=N`.
//!
//! One `LISTEN order_views` connection per instance (the projector announces the views each of
//! its batches changed, whichever instance applied it: comma-separated order ids, see
//! [`crate::consumers::order_status_projector::notification_payloads`]) feeds a map of per-order channels. A waiter
//! holds a receiver and sleeps in `changed()`: no polling, no task per waiter, and a change
//! wakes only the waiters of that order.
//!
//! When the service stops, the channels are closed: every held long poll is answered at once
//! with what it has (304), instead of holding up the HTTP server's graceful shutdown until its
//! timeout and then losing the connection.

use platform::{backoff::Backoff, db, secret::Secret};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Default)]
pub struct Watchers {
    channels: Mutex<Channels>,
}

#[derive(Default)]
struct Channels {
    senders: HashMap<Uuid, watch::Sender<u64>>,
    /// Set when the service stops: no waiter is held any more.
    closed: bool,
}

/// A registered interest in one order; unregisters when dropped.
pub struct Waiter {
    watchers: Arc<Watchers>,
    order_id: Uuid,
    pub receiver: watch::Receiver<u64>,
}

impl Watchers {
    /// Register before reading the current state, so no change can slip in between. Once the
    /// watchers are closed the receiver is closed too: `changed()` fails at once.
    pub fn subscribe(self: &Arc<Self>, order_id: Uuid) -> Waiter {
        let mut channels = self.channels.lock().expect("watchers lock");
        let receiver = if channels.closed {
            watch::channel(0).1
        } else {
            channels
                .senders
                .entry(order_id)
                .or_insert_with(|| watch::channel(0).0)
                .subscribe()
        };
        Waiter {
            watchers: self.clone(),
            order_id,
            receiver,
        }
    }

    fn notify(&self, order_id: Uuid) {
        let channels = self.channels.lock().expect("watchers lock");
        if let Some(sender) = channels.senders.get(&order_id) {
            sender.send_modify(|n| *n += 1);
        }
    }

    /// After a lost connection notifications may have been missed: wake everyone to re-read.
    fn notify_all(&self) {
        for sender in self
            .channels
            .lock()
            .expect("watchers lock")
            .senders
            .values()
        {
            sender.send_modify(|n| *n += 1);
        }
    }

    /// Releases every waiter (their `changed()` fails) and holds no new ones.
    fn close(&self) {
        let mut channels = self.channels.lock().expect("watchers lock");
        channels.closed = true;
        channels.senders.clear();
    }

    /// Listens for view changes until `shutdown`, then releases the waiters.
    pub async fn listen(self: Arc<Self>, url: Secret<String>, shutdown: CancellationToken) {
        self.forward_notifications(&url, &shutdown).await;
        self.close();
    }

    /// Feeds notifications to the waiters until `shutdown`, reconnecting with backoff.
    async fn forward_notifications(&self, url: &Secret<String>, shutdown: &CancellationToken) {
        let mut backoff = Backoff::new(5_000);
        while !shutdown.is_cancelled() {
            match db::dedicated(url).await {
                Ok((client, mut notifications)) => {
                    if let Err(e) = client.batch_execute("LISTEN order_views").await {
                        tracing::warn!(error = %e, "LISTEN order_views failed");
                    } else {
                        backoff.reset();
                        self.notify_all();
                        loop {
                            tokio::select! {
                                _ = shutdown.cancelled() => return,
                                n = notifications.recv() => match n {
                                    Some(db::Notice::Notification(n)) => {
                                        for order_id in n.payload().split(',') {
                                            if let Ok(order_id) = order_id.parse() {
                                                self.notify(order_id);
                                            }
                                        }
                                    }
                                    // Some were dropped: whoever they were for, re-read.
                                    Some(db::Notice::Lagged) => self.notify_all(),
                                    None => break,
                                },
                            }
                        }
                        tracing::warn!("view notifications connection lost; reconnecting");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "view notifications unavailable"),
            }
            backoff.wait(shutdown).await;
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut channels = self.watchers.channels.lock().expect("watchers lock");
        // This waiter's receiver is still alive here, so 1 means it was the last.
        if channels
            .senders
            .get(&self.order_id)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            channels.senders.remove(&self.order_id);
        }
    }
}
