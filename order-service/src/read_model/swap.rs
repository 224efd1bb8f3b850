//! The hand-over of a shadow to the API while the projector runs, with no event lost or
//! applied twice.
//!
//! It rests on **positions kept in the read-model database**: the live projector records, in
//! the transaction of the views it changed, the offset after the last event it applied in each
//! partition (`order_views_positions`), and skips any event below it; the shadow has its own,
//! written the same way. The swap, in steps its caller drives:
//! 1. [`prepare`], outside any lock on the live tables: the shadow made logged (`SET LOGGED`,
//!    one write of each table to the WAL) and given the live tables' indexes;
//! 2. [`lock_live`], in the swap's transaction: the projector's next transaction and the
//!    readers wait (one in flight finishes first);
//! 3. the caller catches the shadow up to the end of the log within that transaction (the
//!    locked projector cannot be further), with [`super::Shadow::apply`];
//! 4. [`hand_over`]: every shadow position must be at or beyond the live one, then the
//!    shadow's three tables take the live names, the live ones become `*_replaced` (until the
//!    next swap), and the events' sequence moves past the numbers the rebuild gave.
//!
//! At commit the waiting projector resolves the names again, finds the shadow's positions,
//! skips the events the shadow already holds, and applies everything after.

use super::{shadow, ReadModelError};
use crate::consumers::order_status_projector::ViewTables;
use platform::db::{Pool, Transaction};

/// Makes the shadow `tables` fit to serve: logged (the live read model must survive a database
/// crash; a no-op for a table logged before) and then indexed like the live tables (`SET
/// LOGGED` rewrites a table's indexes with it). Outside the live tables' lock, so the platform
/// does not wait for it.
pub async fn prepare(pool: &Pool, tables: &ViewTables) -> Result<(), ReadModelError> {
    let client = pool.get().await.map_err(platform::db::DbError::from)?;
    client
        .batch_execute(&format!(
            "ALTER TABLE {} SET LOGGED; ALTER TABLE {} SET LOGGED; ALTER TABLE {} SET LOGGED;",
            tables.positions, tables.views, tables.events
        ))
        .await?;
    drop(client);
    shadow::index(pool, tables).await
}

/// Locks the live tables for the rest of `tx`, in the order the projector's transactions take
/// them (positions, views, events): in any other order, a projector transaction holding the
/// positions and waiting for the views would deadlock with this one.
pub async fn lock_live(tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    let live = ViewTables::live();
    tx.batch_execute(&format!(
        "LOCK TABLE {}, {}, {} IN ACCESS EXCLUSIVE MODE",
        live.positions, live.views, live.events
    ))
    .await
}

/// Makes the shadow `tables` the live ones within `tx` (which holds [`lock_live`]), refused
/// ([`ReadModelError::Behind`]) where a shadow position is short of the live one.
pub async fn hand_over(tx: &Transaction<'_>, tables: &ViewTables) -> Result<(), ReadModelError> {
    let live = ViewTables::live();
    let behind: i64 = tx
        .query_one(
            &format!(
                "SELECT count(*) FROM {} l LEFT JOIN {} s USING (topic, kafka_partition)
                 WHERE s.next_offset IS NULL OR s.next_offset < l.next_offset",
                live.positions, tables.positions
            ),
            &[],
        )
        .await?
        .get(0);
    if behind > 0 {
        return Err(ReadModelError::Behind(behind));
    }
    let sequence: Option<String> = tx
        .query_one(
            &format!("SELECT pg_get_serial_sequence('{}', 'seq')", live.events),
            &[],
        )
        .await?
        .get(0);
    let (lv, le, lp) = (&live.views, &live.events, &live.positions);
    let (sv, se, sp) = (&tables.views, &tables.events, &tables.positions);
    let mut sql = format!(
        "DROP TABLE IF EXISTS {lv}_replaced, {le}_replaced, {lp}_replaced;
         ALTER TABLE {lv} RENAME TO {lv}_replaced;
         ALTER TABLE {le} RENAME TO {le}_replaced;
         ALTER TABLE {lp} RENAME TO {lp}_replaced;
         ALTER TABLE {sv} RENAME TO {lv};
         ALTER TABLE {se} RENAME TO {le};
         ALTER TABLE {sp} RENAME TO {lp};"
    );
    if let Some(sequence) = sequence {
        // The rebuild numbered the shadow's events itself; the projector, numbering by the
        // sequence from now on, goes on after them.
        sql.push_str(&format!(
            "SELECT setval('{sequence}', GREATEST((SELECT last_value FROM {sequence}),
                                                  (SELECT max(seq) FROM {le})));
             ALTER SEQUENCE {sequence} OWNED BY {le}.seq;"
        ));
    }
    tx.batch_execute(&sql).await?;
    Ok(())
}
