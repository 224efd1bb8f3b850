//! The differences between a shadow and the live views, view by view (status and version).
//! Whether the log can still reconstruct a live view (retention may have removed its first
//! events) is the caller's to ask of Kafka, with [`earliest_offsets`].

use crate::consumers::order_status_projector::ViewTables;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// An order whose view differs: `(status, version)` on each side, `None` where it has none.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    pub order_id: Uuid,
    pub live: Option<(String, i64)>,
    pub shadow: Option<(String, i64)>,
}

/// The views in the live tables and in `tables`, counted.
pub async fn counts(
    client: &impl GenericClient,
    tables: &ViewTables,
) -> Result<(i64, i64), tokio_postgres::Error> {
    let row = client
        .query_one(
            &format!(
                "SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {})",
                ViewTables::live().views,
                tables.views
            ),
            &[],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// Every order whose view differs between the live tables and `tables`, by order id.
pub async fn differences(
    client: &impl GenericClient,
    tables: &ViewTables,
) -> Result<Vec<Difference>, tokio_postgres::Error> {
    let (live, shadow) = (ViewTables::live().views, &tables.views);
    let rows = client
        .query(
            &format!(
                "SELECT coalesce(l.order_id, s.order_id), l.status, l.version, s.status, s.version
                 FROM {live} l FULL OUTER JOIN {shadow} s ON s.order_id = l.order_id
                 WHERE l.order_id IS NULL OR s.order_id IS NULL
                    OR l.status <> s.status OR l.version <> s.version
                 ORDER BY 1"
            ),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Difference {
            order_id: row.get(0),
            live: row.get::<_, Option<String>>(1).map(|s| (s, row.get(2))),
            shadow: row.get::<_, Option<String>>(3).map(|s| (s, row.get(4))),
        })
        .collect())
}

/// The offset of the first event the live view of `order_id` applied, by topic and partition.
pub async fn earliest_offsets(
    client: &impl GenericClient,
    order_id: Uuid,
) -> Result<Vec<((String, i32), i64)>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT topic, kafka_partition, min(kafka_offset) FROM {}
                 WHERE order_id = $1 GROUP BY 1, 2",
                ViewTables::live().events
            ),
            &[&order_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect())
}
