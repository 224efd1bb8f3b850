//! The baseline of `GET /orders/{id}`: raw PostgreSQL running the statement order-service runs
//! for it ([`order_service::core::query::find_order_sql`]), prepared once on each of a
//! connection per client, at the same concurrency as the HTTP load. The service's figure
//! divided by this one is what HTTP, JSON and the pool cost on top of the database.

use crate::load::{closed_loop, Sample};
use std::{sync::Arc, time::Duration};
use tokio_postgres::{Client, NoTls, Statement};
use uuid::Uuid;

/// A connection per client, each with the statement prepared.
pub struct RawReads {
    readers: Arc<[(Client, Statement)]>,
}

impl RawReads {
    pub async fn connect(database_url: &str, clients: usize) -> Self {
        let sql = order_service::core::query::find_order_sql();
        let mut readers = Vec::with_capacity(clients);
        for _ in 0..clients {
            let (client, connection) = tokio_postgres::connect(database_url, NoTls)
                .await
                .expect("order database reachable");
            tokio::spawn(connection);
            let statement = client.prepare(&sql).await.expect("view select prepares");
            readers.push((client, statement));
        }
        RawReads {
            readers: readers.into(),
        }
    }

    /// Every client selecting the view rows of `ids` back to back for `duration`, walking the
    /// ids as the HTTP load does.
    pub async fn load(&self, ids: &Arc<[Uuid]>, duration: Duration) -> Sample {
        let (readers, ids) = (self.readers.clone(), ids.clone());
        closed_loop(readers.len(), duration, move |client, request| {
            let (readers, ids) = (readers.clone(), ids.clone());
            async move {
                let (db, statement) = &readers[client];
                let id = &ids[(client * 7919 + request) % ids.len()];
                matches!(db.query_opt(statement, &[id]).await, Ok(Some(_)))
            }
        })
        .await
    }
}
