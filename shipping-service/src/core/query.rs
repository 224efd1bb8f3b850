//! Shipments as clients see them.

use super::ShippingError;
use chrono::{DateTime, Utc};
use platform::db::Pool;
use schemas::ShipmentStatus;
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

/// A shipment as clients see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Shipment {
    shipment_id: Uuid,
    order_id: Uuid,
    status: ShipmentStatus,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "shipment_id, order_id, status, created_at, updated_at";

fn shipment(row: &Row) -> Shipment {
    Shipment {
        shipment_id: row.get(0),
        order_id: row.get(1),
        status: row.get(2),
        created_at: row.get(3),
        updated_at: row.get(4),
    }
}

/// The shipment `shipment_id`.
pub async fn find(pool: &Pool, shipment_id: Uuid) -> Result<Shipment, ShippingError> {
    let client = pool.get().await?;
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM shipments WHERE shipment_id = $1"),
            &[&shipment_id],
        )
        .await?
        .ok_or(ShippingError::NotFound)?;
    Ok(shipment(&row))
}

/// The shipments of `order_id` (at most one).
pub async fn of_order(pool: &Pool, order_id: Uuid) -> Result<Vec<Shipment>, ShippingError> {
    let client = pool.get().await?;
    let rows = client
        .query(
            &format!("SELECT {COLUMNS} FROM shipments WHERE order_id = $1"),
            &[&order_id],
        )
        .await?;
    Ok(rows.iter().map(shipment).collect())
}
