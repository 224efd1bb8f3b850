//! The order status projection: applies every event of an order to its view.
//!
//! The fold itself ([`crate::domain::status::Facts`]) is pure; this module writes its result
//! into a set of tables ([`ViewTables`]): the live read model (`order_views`,
//! `order_view_events`, `order_views_positions`) for the `order-status-projector` group, or a
//! shadow copy for a rebuild from the log (`orderflow replay read-model`), so both apply events
//! the same way.
//!
//! # Positions
//! Beside the views, the projection keeps the offset after the last event it applied in each
//! partition (`<views>_positions`), in the same transaction, and skips any event below it. The
//! live projector's Kafka offsets and inbox make redelivery harmless already; the positions
//! exist for the hand-over of a rebuild: a shadow swapped in (`replay read-model --swap`)
//! brings the positions it was built to, at or beyond the live projector's, and the projector,
//! still fetching from its own offsets, skips everything the shadow already holds and applies
//! the rest. Nothing is lost (the shadow caught up with the live positions under a lock before
//! the swap) and nothing is applied twice (the positions say where the shadow stops).
//!
//! # One write path, batched
//! [`Projector::apply_batch`] applies any number of events in a constant number of statements:
//! lock the partitions' positions, lock the existing views (in order-id order, so two instances
//! never deadlock), fold in memory, insert the missing views with their events already folded
//! in, write updated views, events and positions back with `UNNEST`. Statements that need no
//! answer of another are sent together (pipelined): three round trips a batch. Each view is
//! written once per batch. The consumer group and a rebuild both hand it whole batches, which
//! is what makes the projector keep up with three topics and a rebuild run close to the speed
//! of reading the log (a rebuild merges its topics in time order, so its batches hold most
//! events of an order and it writes most views once). A rebuild also moves the positions past
//! records it read but did not apply ([`Projector::apply_through`]), in the same statement.
//! And a rebuild is the only writer of its tables ([`Projector::exclusive`]): its inserts need
//! no check for a view inserted meanwhile, nor an answer, so they go with the other writes (two
//! round trips), and it numbers the events itself instead of by the sequence.
//!
//! # Notifications
//! The live tables' projector tells the long polls and `WatchOrder` streams of every instance
//! which views a batch changed: in the batch's transaction (delivered at its commit, so a woken
//! waiter reads the new view), one `pg_notify('order_views', ..)` per [`NOTIFY_IDS`] order ids,
//! comma-separated ([`notification_payloads`]). Once per batch, not per row: PostgreSQL
//! serializes the commits of notifying transactions, so the notifications cost one such commit
//! per batch, and the other writers of views (placing an order) notify nothing. A shadow's
//! projector notifies nobody.

use crate::domain::status::Facts;
use platform::{
    consumer::{Handler, HandlerError, InboundEvent},
    db::Transaction,
    outbox, telemetry,
};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::atomic::{AtomicI64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// The tables a projection writes, with its statements built once for them.
#[derive(Clone, Debug)]
pub struct ViewTables {
    pub views: String,
    pub events: String,
    /// `<views>_positions`.
    pub positions: String,
    lock_positions: String,
    insert: String,
    /// `insert` for the only writer of the tables (see [`Projector::exclusive`]).
    insert_alone: String,
    select: String,
    update: String,
    record: String,
    /// `record` with the events' numbers given (`$9`).
    record_numbered: String,
    advance: String,
    /// Whether the views' changes are announced ([`CHANNEL`]): the live read model's are.
    notifies: bool,
}

/// The channel the live views' changes are announced on (`LISTEN order_views`).
pub const CHANNEL: &str = "order_views";

/// Order ids per notification: 36 characters each plus a comma, well under PostgreSQL's limit
/// of 8000 bytes for a payload.
pub const NOTIFY_IDS: usize = 200;

/// The payloads that announce `ids`: comma-separated, at most [`NOTIFY_IDS`] each.
pub fn notification_payloads(ids: &[Uuid]) -> Vec<String> {
    ids.chunks(NOTIFY_IDS)
        .map(|chunk| {
            chunk
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

impl ViewTables {
    /// The live read model, which the API serves.
    pub fn live() -> Self {
        ViewTables {
            notifies: true,
            ..Self::named("order_views", "order_view_events")
        }
    }

    /// Tables shaped like the live ones (`CREATE TABLE .. (LIKE order_views ..)`), named
    /// `views`, `events` and `<views>_positions`. The names are SQL identifiers chosen by code,
    /// never by input.
    pub fn named(views: &str, events: &str) -> Self {
        let positions = format!("{views}_positions");
        // The views as `insert` and `update` take them, one array per column. The arrays are
        // unnested in the select list, which streams their rows; `FROM UNNEST(..)` first
        // copies every column into a tuplestore first, a cost on every row written.
        let written = "(SELECT UNNEST($1::uuid[]) AS order_id, UNNEST($2::text[]) AS status,
                               UNNEST($3::text[]) AS cancellation_reason,
                               UNNEST($4::uuid[]) AS payment_id,
                               UNNEST($5::text[]) AS payment_status,
                               UNNEST($6::int8[]) AS payment_amount,
                               UNNEST($7::text[]) AS decline_reason,
                               UNNEST($8::uuid[]) AS shipment_id,
                               UNNEST($9::text[]) AS shipment_status,
                               UNNEST($10::int8[]) AS version,
                               UNNEST($11::text[]) AS cancellation_request,
                               UNNEST($12::text[]) AS cancellation_rejected_reason) u";
        let insert = format!(
            "INSERT INTO {views} (order_id, status, cancellation_reason, payment_id,
                    payment_status, payment_amount, decline_reason, shipment_id,
                    shipment_status, version, cancellation_request,
                    cancellation_rejected_reason, order_created_at)
             SELECT u.*, o.created_at
             FROM {written}
             LEFT JOIN orders o USING (order_id)"
        );
        let recorded = "SELECT UNNEST($1::uuid[]), UNNEST($2::uuid[]), UNNEST($3::text[]),
                               UNNEST($4::text[]), UNNEST($5::int[]), UNNEST($6::int8[]),
                               UNNEST($7::timestamptz[]), UNNEST($8::text[])";
        ViewTables {
            lock_positions: format!(
                "SELECT p.topic, p.kafka_partition, p.next_offset
                 FROM {positions} p
                 JOIN UNNEST($1::text[], $2::int[]) AS k (topic, kafka_partition)
                   USING (topic, kafka_partition)
                 FOR UPDATE OF p"
            ),
            // A view is inserted by the first batch holding any event of its order, with the
            // batch's events folded in (the same columns as `update`). The live ones exist
            // already (order placement writes them); a rebuild's are new and copy their order's
            // creation time, the key of the status lists.
            insert: format!("{insert} ON CONFLICT (order_id) DO NOTHING RETURNING order_id"),
            // No other writer can insert a view meanwhile: a plain insert, without
            // ON CONFLICT's speculative insertion, which costs a round of index work per row.
            insert_alone: insert.clone(),
            select: format!(
                "SELECT order_id, cancellation_reason, payment_id, payment_status, payment_amount,
                        decline_reason, shipment_id, shipment_status, version,
                        cancellation_request, cancellation_rejected_reason
                 FROM {views} WHERE order_id = ANY($1) ORDER BY order_id FOR UPDATE"
            ),
            update: format!(
                "UPDATE {views} v SET status = u.status, cancellation_reason = u.cancellation_reason,
                        payment_id = u.payment_id, payment_status = u.payment_status,
                        payment_amount = u.payment_amount, decline_reason = u.decline_reason,
                        shipment_id = u.shipment_id, shipment_status = u.shipment_status,
                        version = u.version, cancellation_request = u.cancellation_request,
                        cancellation_rejected_reason = u.cancellation_rejected_reason,
                        updated_at = now()
                 FROM {written}
                 WHERE v.order_id = u.order_id"
            ),
            // In the arrays' order (the select list's set-returning functions yield their
            // elements in order), which numbers `seq` in the order the events were applied.
            record: format!(
                "INSERT INTO {events} (order_id, event_id, event_type, topic,
                        kafka_partition, kafka_offset, occurred_at, trace_id)
                 {recorded}"
            ),
            // For the only writer, which numbers its events itself: a number taken from the
            // sequence is a function call and a sequence update per row, a large share of the
            // insert's own work.
            record_numbered: format!(
                "INSERT INTO {events} (order_id, event_id, event_type, topic,
                        kafka_partition, kafka_offset, occurred_at, trace_id, seq)
                 {recorded}, UNNEST($9::int8[])"
            ),
            advance: format!(
                "INSERT INTO {positions} (topic, kafka_partition, next_offset)
                 SELECT * FROM UNNEST($1::text[], $2::int[], $3::int8[])
                 ON CONFLICT (topic, kafka_partition)
                 DO UPDATE SET next_offset = GREATEST({positions}.next_offset, EXCLUDED.next_offset)"
            ),
            views: views.to_owned(),
            events: events.to_owned(),
            positions,
            notifies: false,
        }
    }
}

pub struct Projector {
    tables: ViewTables,
    /// For the only writer of the tables ([`Projector::exclusive`]): the last number given to
    /// an event.
    numbered: Option<AtomicI64>,
}

impl Projector {
    /// A projector among others writing `tables` (the live read model: the projector's
    /// instances, each on some of the partitions): a view is inserted only if none was
    /// meanwhile, and events are numbered by the events table's sequence.
    pub fn new(tables: ViewTables) -> Self {
        Projector {
            tables,
            numbered: None,
        }
    }

    /// A projector that is the only writer of `tables`, and whose callers never apply events
    /// of one order in two transactions at once (a rebuild into its shadow, whose workers read
    /// disjoint sets of orders): it inserts views without checking for one inserted meanwhile,
    /// and numbers the events itself, from `after + 1`. Whoever makes the tables shared again
    /// moves their sequence past the numbers given (`replay read-model --swap`).
    pub fn exclusive(tables: ViewTables, after: i64) -> Self {
        Projector {
            tables,
            numbered: Some(AtomicI64::new(after)),
        }
    }

    pub fn tables(&self) -> &ViewTables {
        &self.tables
    }

    /// Applies `events` (in their order) to their orders' views in `tables`, within `tx`,
    /// except those below the tables' position in their partition; moves the positions past
    /// every event given. Returns how many were applied. Whether the same event was applied
    /// before at another offset is the caller's to know (the consumer's inbox, a rebuild's
    /// check).
    pub async fn apply_batch(
        &self,
        tx: &Transaction<'_>,
        events: &[&InboundEvent],
    ) -> Result<usize, tokio_postgres::Error> {
        if events.is_empty() {
            return Ok(0);
        }
        let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for e in events {
            let at = next.entry((e.topic.as_str(), e.partition)).or_default();
            *at = (*at).max(e.offset + 1);
        }
        self.apply_through(tx, events, &next).await
    }

    /// [`Projector::apply_batch`], moving the positions to `next` (`(topic, partition)` → next
    /// offset, at least past every event given) instead: a rebuild reads records it does not
    /// apply (undecodable, duplicates), and its positions pass them in the same statement.
    pub async fn apply_through(
        &self,
        tx: &Transaction<'_>,
        events: &[&InboundEvent],
        next: &BTreeMap<(&str, i32), i64>,
    ) -> Result<usize, tokio_postgres::Error> {
        if events.is_empty() {
            self.advance(tx, next).await?;
            return Ok(0);
        }
        let (topics, partitions): (Vec<&str>, Vec<i32>) = next.keys().copied().unzip();
        let mut orders: Vec<Uuid> = events.iter().map(|e| e.event.header().order_id).collect();
        orders.sort();
        orders.dedup();
        let lock = tx.prepare_cached(&self.tables.lock_positions).await?;
        // The positions, then the views of every event's order, in one round trip (pipelined);
        // a view whose events all lie below the positions is left as it is.
        let keys: [&(dyn ToSql + Sync); 2] = [&topics, &partitions];
        let (positions, mut views) =
            futures::try_join!(tx.query(&lock, &keys), self.lock_views(tx, &orders))?;
        let positions: HashMap<(&str, i32), i64> = positions
            .iter()
            .map(|r| ((r.get(0), r.get(1)), r.get(2)))
            .collect();
        let fresh: Vec<&InboundEvent> = events
            .iter()
            .copied()
            .filter(|e| {
                positions
                    .get(&(e.topic.as_str(), e.partition))
                    .is_none_or(|next| e.offset >= *next)
            })
            .collect();
        let touched: HashSet<Uuid> = fresh.iter().map(|e| e.event.header().order_id).collect();
        views.retain(|id, _| touched.contains(id));

        // Orders without a view get theirs inserted with every event folded in: one write
        // instead of creating an empty row and updating it.
        let mut created: BTreeMap<Uuid, Facts> = BTreeMap::new();
        for e in &fresh {
            let id = e.event.header().order_id;
            match views.get_mut(&id) {
                Some(facts) => facts.apply(&e.event),
                None => created.entry(id).or_default().apply(&e.event),
            }
        }
        let alone = self.numbered.is_some();
        if !alone {
            let insert = tx.prepare_cached(&self.tables.insert).await?;
            let inserted: HashSet<Uuid> = self
                .write_views(tx, &insert, &created)
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            // Another projector instance (consuming another topic) created one of them since
            // the lock above: fold this batch's events onto its view instead.
            let raced: Vec<Uuid> = created
                .keys()
                .filter(|id| !inserted.contains(id))
                .copied()
                .collect();
            if !raced.is_empty() {
                let mut theirs = self.lock_views(tx, &raced).await?;
                for e in &fresh {
                    if let Some(facts) = theirs.get_mut(&e.event.header().order_id) {
                        facts.apply(&e.event);
                    }
                }
                views.extend(theirs);
            }
        }
        // The remaining writes depend on nothing the others return: one round trip. The only
        // writer's inserts go with them: no view can have been inserted meanwhile.
        let insert = async {
            if alone && !created.is_empty() {
                let insert = tx.prepare_cached(&self.tables.insert_alone).await?;
                self.write_views(tx, &insert, &created).await?;
            }
            Ok(())
        };
        let update = async {
            if !views.is_empty() {
                let update = tx.prepare_cached(&self.tables.update).await?;
                self.write_views(tx, &update, &views).await?;
            }
            Ok(())
        };
        let notify = async {
            if self.tables.notifies && !touched.is_empty() {
                let ids: Vec<Uuid> = touched.iter().copied().collect();
                tx.execute(
                    "SELECT pg_notify($1, payload) FROM UNNEST($2::text[]) payload",
                    &[&CHANNEL, &notification_payloads(&ids)],
                )
                .await?;
            }
            Ok(())
        };
        futures::try_join!(
            insert,
            update,
            self.record(tx, &fresh),
            self.advance(tx, next),
            notify
        )?;
        Ok(fresh.len())
    }

    /// Moves the tables' positions to `next` (`(topic, partition)` → next offset), never back.
    async fn advance(
        &self,
        tx: &Transaction<'_>,
        next: &BTreeMap<(&str, i32), i64>,
    ) -> Result<(), tokio_postgres::Error> {
        let (topics, partitions): (Vec<&str>, Vec<i32>) = next.keys().copied().unzip();
        let offsets: Vec<i64> = next.values().copied().collect();
        let advance = tx.prepare_cached(&self.tables.advance).await?;
        tx.execute(&advance, &[&topics, &partitions, &offsets])
            .await?;
        Ok(())
    }

    /// Locks the existing views of `orders` (sorted: instances lock in the same order, so they
    /// never deadlock) and reads their facts.
    async fn lock_views(
        &self,
        tx: &Transaction<'_>,
        orders: &[Uuid],
    ) -> Result<BTreeMap<Uuid, Facts>, tokio_postgres::Error> {
        let select = tx.prepare_cached(&self.tables.select).await?;
        Ok(tx
            .query(&select, &[&orders])
            .await?
            .iter()
            .map(|row| {
                let facts = Facts {
                    cancellation_reason: row.get(1),
                    payment_id: row.get(2),
                    payment_status: row.get(3),
                    payment_amount: row.get(4),
                    decline_reason: row.get(5),
                    shipment_id: row.get(6),
                    shipment_status: row.get(7),
                    version: row.get(8),
                    cancellation_request: row.get(9),
                    cancellation_rejected_reason: row.get(10),
                };
                (row.get(0), facts)
            })
            .collect())
    }

    /// Runs `statement` ([`ViewTables`]' `insert` or `update`: the same parameters) with
    /// `views` as columns.
    async fn write_views(
        &self,
        tx: &Transaction<'_>,
        statement: &tokio_postgres::Statement,
        views: &BTreeMap<Uuid, Facts>,
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        let ids: Vec<Uuid> = views.keys().copied().collect();
        let facts: Vec<&Facts> = views.values().collect();
        let column = |f: fn(&Facts) -> Option<&str>| facts.iter().map(|v| f(v)).collect::<Vec<_>>();
        let status: Vec<&str> = facts.iter().map(|f| f.status().as_str()).collect();
        let payment_id: Vec<Option<Uuid>> = facts.iter().map(|f| f.payment_id).collect();
        let payment_amount: Vec<Option<i64>> = facts.iter().map(|f| f.payment_amount).collect();
        let shipment_id: Vec<Option<Uuid>> = facts.iter().map(|f| f.shipment_id).collect();
        let version: Vec<i64> = facts.iter().map(|f| f.version).collect();
        tx.query(
            statement,
            &[
                &ids,
                &status,
                &column(|f| f.cancellation_reason.as_deref()),
                &payment_id,
                &column(|f| f.payment_status.map(|s| s.as_str())),
                &payment_amount,
                &column(|f| f.decline_reason.as_deref()),
                &shipment_id,
                &column(|f| f.shipment_status.map(|s| s.as_str())),
                &version,
                &column(|f| f.cancellation_request.map(|s| s.as_str())),
                &column(|f| f.cancellation_rejected_reason.as_deref()),
            ],
        )
        .await
    }

    /// Records the applied events for `GET /orders/{id}/events`, in their order.
    async fn record(
        &self,
        tx: &Transaction<'_>,
        events: &[&InboundEvent],
    ) -> Result<(), tokio_postgres::Error> {
        let order_ids: Vec<Uuid> = events.iter().map(|e| e.event.header().order_id).collect();
        let event_ids: Vec<Uuid> = events.iter().map(|e| e.event.header().event_id).collect();
        let types: Vec<&str> = events
            .iter()
            .map(|e| e.event.event_type().full_name())
            .collect();
        let topics: Vec<&str> = events.iter().map(|e| e.topic.as_str()).collect();
        let partitions: Vec<i32> = events.iter().map(|e| e.partition).collect();
        let offsets: Vec<i64> = events.iter().map(|e| e.offset).collect();
        let occurred: Vec<SystemTime> = events
            .iter()
            .map(|e| at_millis(e.event.header().occurred_at))
            .collect();
        let traces: Vec<Option<&str>> = events
            .iter()
            .map(|e| e.traceparent.as_deref().and_then(telemetry::trace_id))
            .collect();
        let mut columns: Vec<&(dyn ToSql + Sync)> = vec![
            &order_ids,
            &event_ids,
            &types,
            &topics,
            &partitions,
            &offsets,
            &occurred,
            &traces,
        ];
        let numbers: Vec<i64>;
        let record = match &self.numbered {
            Some(last) => {
                let n = events.len() as i64;
                let first = last.fetch_add(n, Ordering::Relaxed) + 1;
                numbers = (first..first + n).collect();
                columns.push(&numbers);
                &self.tables.record_numbered
            }
            None => &self.tables.record,
        };
        let record = tx.prepare_cached(record).await?;
        tx.execute(&record, &columns).await?;
        Ok(())
    }
}

/// The time `ms` milliseconds after the Unix epoch (before it, if negative): sent as a
/// `timestamptz` as it is, where a number of seconds would be divided and converted per row.
fn at_millis(ms: i64) -> SystemTime {
    let since = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + since
    } else {
        UNIX_EPOCH - since
    }
}

impl Handler for Projector {
    const BATCHES: bool = true;

    async fn handle(
        &self,
        tx: &outbox::Transaction<'_>,
        event: &InboundEvent,
    ) -> Result<(), HandlerError> {
        self.apply_batch(tx, &[event]).await?;
        Ok(())
    }

    async fn handle_batch(
        &self,
        tx: &outbox::Transaction<'_>,
        events: &[&InboundEvent],
    ) -> Result<(), HandlerError> {
        self.apply_batch(tx, events).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_every_id_once_within_the_size_limit() {
        let ids: Vec<Uuid> = (0..(2 * NOTIFY_IDS + 3)).map(|_| Uuid::new_v4()).collect();
        let payloads = notification_payloads(&ids);
        assert_eq!(payloads.len(), 3);
        assert!(
            payloads.iter().all(|p| p.len() < 8000),
            "PostgreSQL's payload limit"
        );
        let back: Vec<Uuid> = payloads
            .iter()
            .flat_map(|p| p.split(','))
            .map(|id| id.parse().unwrap())
            .collect();
        assert_eq!(back, ids);
        assert!(notification_payloads(&[]).is_empty());
    }
}
