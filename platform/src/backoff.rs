//! Exponential backoff with a cap, for retrying transient failures (database, Kafka, registry).

use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Exponential backoff with a cap, interrupted by shutdown.
pub struct Backoff {
    current: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max_ms: u64) -> Self {
        Backoff {
            current: Duration::from_millis(100),
            max: Duration::from_millis(max_ms.max(100)),
        }
    }

    pub fn reset(&mut self) {
        self.current = Duration::from_millis(100);
    }

    pub async fn wait(&mut self, shutdown: &CancellationToken) {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(self.current) => {}
        }
        self.current = (self.current * 2).min(self.max);
    }
}
