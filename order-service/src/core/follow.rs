//! Following one order's view as it changes: what REST's long poll (`GET /orders/{id}` with
//! `Prefer: wait=N`) and gRPC's `WatchOrder` stream both do.
//!
//! A [`Follower`] registers with the instance's [`Watchers`] *before* it reads the view, so a
//! change committed between the read and the wait still wakes it. It then sleeps until the
//! projector's NOTIFY (from any instance) names its order, and re-reads the view: no polling,
//! and a wake-up that changed nothing visible (a duplicate notification, a view rebuilt
//! unchanged) is not reported.

use super::{query, OrderError};
use crate::watch::{Waiter, Watchers};
use platform::db::Pool;
use std::sync::Arc;
use uuid::Uuid;

pub struct Follower {
    pool: Pool,
    waiter: Waiter,
    order_id: Uuid,
    /// The version of the view last returned.
    version: i64,
}

impl Follower {
    /// Starts following `order_id`; returns the follower and the view now.
    pub async fn start(
        pool: &Pool,
        watchers: &Arc<Watchers>,
        order_id: Uuid,
    ) -> Result<(Self, query::OrderView), OrderError> {
        let waiter = watchers.subscribe(order_id);
        let view = query::find_order(pool, order_id).await?;
        let follower = Follower {
            pool: pool.clone(),
            waiter,
            order_id,
            version: view.version,
        };
        Ok((follower, view))
    }

    /// The view once its version differs from the last one returned. `Ok(None)` when the
    /// instance stops (the watchers are closed): the caller answers with what it has.
    pub async fn next(&mut self) -> Result<Option<query::OrderView>, OrderError> {
        loop {
            if self.waiter.receiver.changed().await.is_err() {
                return Ok(None);
            }
            let view = query::find_order(&self.pool, self.order_id).await?;
            if view.version != self.version {
                self.version = view.version;
                return Ok(Some(view));
            }
        }
    }
}
