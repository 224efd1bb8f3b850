//! The shadow tables of a rebuild and the ids of the events they hold.
//!
//! The shadow is created shaped like the live tables, with only the indexes a rebuild uses:
//! the views' and positions' keys (the projector creates, locks and updates by them). The live
//! tables' other indexes, which serve the API's queries, are added by [`index`] when the swap
//! is about to make the shadow serve them: one sorted build per index instead of an entry
//! written per row, which is most of what writing a row costs, and none at all for a rebuild
//! that is only verified.
//!
//! The three shadow tables are `UNLOGGED` while they are a scratch copy: their rows and indexes
//! write no WAL. PostgreSQL empties unlogged tables after its own crash, all three at once, so
//! a rebuild interrupted by a database crash starts over from an empty shadow with no
//! positions: discarded, never inconsistent. The swap makes them logged before they serve.
//!
//! An event published twice (a relay retry) is applied once: the shadow keeps the ids of the
//! events it holds in memory, read back from its event table when a rebuild resumes, as its
//! inbox. A lookup in memory instead of an index on `event_id` written per event and a query
//! per batch; the price is an id (16 bytes) and the set's overhead per event.
//!
//! The shadow's projector is its only writer ([`Projector::exclusive`]): a second rebuild is
//! refused while one holds the shadow (an advisory lock of the rebuild's session).

use super::ReadModelError;
use crate::consumers::order_status_projector::{Projector, ViewTables};
use futures::TryStreamExt;
use platform::{
    consumer::InboundEvent,
    db::{Pool, Transaction},
};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Mutex, PoisonError},
};
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// The shadow tables of `orderflow replay read-model`.
pub fn tables() -> ViewTables {
    ViewTables::named("order_views_rebuild", "order_view_events_rebuild")
}

/// A rebuild's shadow tables, with the ids of the events they hold. A rebuild or swap that
/// failed may have counted the events of a batch rolled back: [`Shadow::prepare`] again before
/// the next.
pub struct Shadow {
    projector: Projector,
    applied: Mutex<EventIds>,
}

/// A set of event ids, hashed with foldhash: one insert per event read. SipHash, the default,
/// resists chosen keys, which these are not (the platform's own random ids), and costs more
/// per insert, on the rebuild's hot path.
type EventIds = HashSet<Uuid, foldhash::fast::RandomState>;

/// What one batch did to the shadow.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Events applied.
    pub applied: u64,
    /// Events the shadow held already (published twice), skipped.
    pub duplicates: u64,
}

impl Shadow {
    /// Takes the shadow `tables` for this session: creates them (dropping them first with
    /// `fresh`) or, where they exist (an interrupted rebuild), keeps them and reads the ids of
    /// the events they hold. The session of `client` holds the shadow until it ends; another
    /// session's rebuild is refused meanwhile ([`ReadModelError::Busy`]).
    pub async fn prepare(
        client: &tokio_postgres::Client,
        tables: ViewTables,
        fresh: bool,
    ) -> Result<Shadow, ReadModelError> {
        let (views, events, positions) = (&tables.views, &tables.events, &tables.positions);
        let alone: bool = client
            .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[views])
            .await?
            .get(0);
        if !alone {
            return Err(ReadModelError::Busy(views.clone()));
        }
        if fresh {
            client
                .batch_execute(&format!(
                    "DROP TABLE IF EXISTS {views}, {events}, {positions}"
                ))
                .await?;
        }
        let exists: Option<String> = client
            .query_one("SELECT to_regclass($1)::text", &[views])
            .await?
            .get(0);
        let mut applied = EventIds::default();
        // The number of the last event recorded: the projector numbers the shadow's events.
        let mut numbered = 0;
        if exists.is_some() {
            let ids = client
                .query_raw(
                    &format!("SELECT event_id, seq FROM {events}"),
                    Vec::<i32>::new(),
                )
                .await?;
            futures::pin_mut!(ids);
            while let Some(row) = ids.try_next().await? {
                applied.insert(row.get(0));
                numbered = numbered.max(row.get(1));
            }
        } else {
            client
                .batch_execute(&format!(
                    "BEGIN;
                     CREATE UNLOGGED TABLE {views}
                       (LIKE order_views INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
                     ALTER TABLE {views} ADD PRIMARY KEY (order_id);
                     CREATE UNLOGGED TABLE {events}
                       (LIKE order_view_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
                     CREATE UNLOGGED TABLE {positions} (LIKE order_views_positions INCLUDING ALL);
                     COMMIT;"
                ))
                .await?;
        }
        Ok(Shadow {
            // The only writer: the rebuild's workers apply disjoint sets of orders, and the
            // swap catches up alone.
            projector: Projector::exclusive(tables, numbered),
            applied: Mutex::new(applied),
        })
    }

    pub fn tables(&self) -> &ViewTables {
        self.projector.tables()
    }

    /// Room for `records` more events' ids, taken at once instead of by doubling as they come.
    pub fn expect(&self, records: usize) {
        let mut applied = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
        applied.reserve(records);
    }

    /// Applies the events of `events` the shadow does not hold yet (the first copy of one
    /// given twice), within `tx`, and moves the positions to `next` (the offset after the
    /// records read in each partition, applied or not, so a resumed rebuild does not read
    /// them again). The events are counted as held from now on.
    pub async fn apply(
        &self,
        tx: &Transaction<'_>,
        events: &[InboundEvent],
        next: &BTreeMap<(&str, i32), i64>,
    ) -> Result<Applied, tokio_postgres::Error> {
        let fresh = self.fresh(events);
        let applied = self.projector.apply_through(tx, &fresh, next).await? as u64;
        Ok(Applied {
            applied,
            duplicates: events.len() as u64 - applied,
        })
    }

    fn fresh<'e>(&self, events: &'e [InboundEvent]) -> Vec<&'e InboundEvent> {
        let mut applied = self.applied.lock().unwrap_or_else(PoisonError::into_inner);
        events
            .iter()
            .filter(|e| applied.insert(e.event.header().event_id))
            .collect()
    }
}

/// The offset after the last event `tables` applied, by topic and partition.
pub async fn positions(
    client: &impl GenericClient,
    tables: &ViewTables,
) -> Result<HashMap<(String, i32), i64>, tokio_postgres::Error> {
    Ok(client
        .query(
            &format!(
                "SELECT topic, kafka_partition, next_offset FROM {}",
                tables.positions
            ),
            &[],
        )
        .await?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}

/// Gives the shadow `tables` every index of the live ones they lack (idempotent: an index is
/// matched by its method, columns and uniqueness, not by its name, which PostgreSQL picks).
/// The views' and the events' indexes are built at once, on a connection each (a table's own
/// one after the other: adding a primary key locks the table).
pub async fn index(pool: &Pool, tables: &ViewTables) -> Result<(), ReadModelError> {
    let live = ViewTables::live();
    futures::future::try_join(
        index_like(pool, &live.views, &tables.views),
        index_like(pool, &live.events, &tables.events),
    )
    .await?;
    Ok(())
}

/// An index as [`index_like`] compares them.
#[derive(Debug, PartialEq, Eq)]
struct IndexDef {
    unique: bool,
    primary: bool,
    /// The definition after its name and table: `USING btree (status)`.
    using: String,
}

impl IndexDef {
    /// The statement that gives `table` this index.
    fn create_on(&self, table: &str) -> String {
        if self.primary {
            let columns = self
                .using
                .split_once('(')
                .map_or(self.using.as_str(), |(_, c)| c);
            format!("ALTER TABLE {table} ADD PRIMARY KEY ({columns}")
        } else {
            let unique = if self.unique { "UNIQUE " } else { "" };
            format!("CREATE {unique}INDEX ON {table} {}", self.using)
        }
    }
}

/// The indexes of `from` that `to` lacks.
fn missing<'a>(from: &'a [IndexDef], to: &[IndexDef]) -> Vec<&'a IndexDef> {
    from.iter()
        .filter(|f| {
            !to.iter()
                .any(|t| t.unique == f.unique && t.using == f.using)
        })
        .collect()
}

/// Gives `to` the indexes of `from` it lacks.
async fn index_like(pool: &Pool, from: &str, to: &str) -> Result<(), ReadModelError> {
    let client = pool.get().await.map_err(platform::db::DbError::from)?;
    let indexes = |table: &str| {
        let (client, table) = (&client, table.to_owned());
        async move {
            let rows = client
                .query(
                    "SELECT i.indisunique, i.indisprimary,
                            substring(pg_get_indexdef(i.indexrelid) FROM ' USING .*$')
                     FROM pg_index i WHERE i.indrelid = to_regclass($1)",
                    &[&table],
                )
                .await?;
            Ok::<_, tokio_postgres::Error>(
                rows.iter()
                    .map(|r| IndexDef {
                        unique: r.get(0),
                        primary: r.get(1),
                        using: r.get(2),
                    })
                    .collect::<Vec<_>>(),
            )
        }
    };
    let (wanted, present) = (indexes(from).await?, indexes(to).await?);
    for index in missing(&wanted, &present) {
        client.batch_execute(&index.create_on(to)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(unique: bool, primary: bool, using: &str) -> IndexDef {
        IndexDef {
            unique,
            primary,
            using: using.into(),
        }
    }

    #[test]
    fn an_index_is_matched_by_its_definition_and_uniqueness_not_its_name() {
        let live = [
            def(true, true, "USING btree (order_id)"),
            def(false, false, "USING btree (status)"),
            def(true, false, "USING btree (event_id)"),
        ];
        let shadow = [
            def(true, false, "USING btree (order_id)"),
            def(false, false, "USING btree (event_id)"),
        ];
        let missing = missing(&live, &shadow);
        assert_eq!(missing, [&live[1], &live[2]]);
    }

    #[test]
    fn a_primary_key_is_added_as_one_and_others_as_indexes() {
        assert_eq!(
            def(true, true, "USING btree (order_id, seq)").create_on("v"),
            "ALTER TABLE v ADD PRIMARY KEY (order_id, seq)"
        );
        assert_eq!(
            def(true, false, "USING btree (event_id)").create_on("v"),
            "CREATE UNIQUE INDEX ON v USING btree (event_id)"
        );
        assert_eq!(
            def(false, false, "USING btree (status)").create_on("v"),
            "CREATE INDEX ON v USING btree (status)"
        );
    }
}
