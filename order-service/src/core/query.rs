//! Reads: one order, a customer's orders, an order's applied events. Answered from the read
//! model, completed by the order row so that an accepted order is visible before the
//! projector has seen it (read your writes).

use super::OrderError;
use crate::domain::{new_order::Item, status::OrderStatus};
use chrono::{DateTime, Utc};
use platform::{db::Pool, http::FieldError};
use serde::Serialize;
use tokio_postgres::Row;
use uuid::Uuid;

#[derive(Clone, Debug, Serialize)]
pub struct OrderView {
    pub order_id: Uuid,
    pub customer_id: String,
    pub currency: String,
    pub items: Vec<Item>,
    pub total_cents: i64,
    pub status: String,
    pub cancellation_reason: Option<String>,
    /// What became of a customer's cancellation request, if there was one.
    pub cancellation: Option<CancellationView>,
    pub payment: Option<PaymentView>,
    pub shipment: Option<ShipmentView>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CancellationView {
    /// `REQUESTED`, `ACCEPTED` or `REJECTED`.
    pub status: String,
    /// Shipping's reason, when it rejected the request.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PaymentView {
    pub payment_id: Uuid,
    pub status: String,
    pub amount_cents: i64,
    pub decline_reason: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ShipmentView {
    pub shipment_id: Uuid,
    pub status: String,
}

const VIEW_COLUMNS: &str = "o.order_id, o.customer_id, o.currency, o.items, o.total_cents,
    COALESCE(v.status, 'PENDING'), v.cancellation_reason, v.payment_id, v.payment_status,
    v.payment_amount, v.decline_reason, v.shipment_id, v.shipment_status,
    COALESCE(v.version, 0), o.created_at, COALESCE(v.updated_at, o.created_at),
    v.cancellation_request, v.cancellation_rejected_reason";

fn view(row: &Row) -> OrderView {
    let items: serde_json::Value = row.get(3);
    let payment = row.get::<_, Option<Uuid>>(7).map(|payment_id| PaymentView {
        payment_id,
        status: row.get::<_, Option<String>>(8).unwrap_or_default(),
        amount_cents: row.get::<_, Option<i64>>(9).unwrap_or_default(),
        decline_reason: row.get(10),
    });
    let shipment = row
        .get::<_, Option<Uuid>>(11)
        .map(|shipment_id| ShipmentView {
            shipment_id,
            status: row.get::<_, Option<String>>(12).unwrap_or_default(),
        });
    OrderView {
        order_id: row.get(0),
        customer_id: row.get(1),
        currency: row.get(2),
        items: serde_json::from_value(items).unwrap_or_default(),
        total_cents: row.get(4),
        status: row.get(5),
        cancellation_reason: row.get(6),
        cancellation: row
            .get::<_, Option<String>>(16)
            .map(|status| CancellationView {
                status,
                reason: row.get(17),
            }),
        payment,
        shipment,
        version: row.get(13),
        created_at: row.get(14),
        updated_at: row.get(15),
    }
}

pub async fn find_order(pool: &Pool, order_id: Uuid) -> Result<OrderView, OrderError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {VIEW_COLUMNS} FROM orders o LEFT JOIN order_views v USING (order_id)
             WHERE o.order_id = $1"
        ))
        .await?;
    let row = client
        .query_opt(&statement, &[&order_id])
        .await?
        .ok_or(OrderError::NotFound)?;
    Ok(view(&row))
}

/// A page of orders, newest first.
#[derive(Debug, Serialize)]
pub struct Page {
    pub items: Vec<OrderView>,
    pub next_cursor: Option<String>,
}

/// Where the previous page ended: its last order's creation time and id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub order_id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        format!(
            "{}_{}",
            self.created_at.timestamp_micros(),
            self.order_id.simple()
        )
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        Some(Cursor {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            order_id: id.parse().ok()?,
        })
    }
}

pub struct ListFilter {
    pub customer_id: Option<String>,
    pub status: Option<OrderStatus>,
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

impl ListFilter {
    /// The largest page.
    pub const MAX_LIMIT: i64 = 200;
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: i64 = 50;

    /// The filter of a list request as the client sent it (REST's query string, gRPC's
    /// `ListOrdersRequest`), every invalid field named.
    pub fn parse(
        customer_id: Option<String>,
        status: Option<&str>,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let status = status.and_then(|s| {
            let parsed = OrderStatus::parse(s);
            if parsed.is_none() {
                errors.push(FieldError::new("status", "is not an order status"));
            }
            parsed
        });
        let limit = limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                format!("must be 1 to {}", Self::MAX_LIMIT),
            ));
        }
        let cursor = cursor.and_then(|c| {
            let parsed = Cursor::decode(c);
            if parsed.is_none() {
                errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this API returned",
                ));
            }
            parsed
        });
        if errors.is_empty() {
            Ok(ListFilter {
                customer_id,
                status,
                limit,
                cursor,
            })
        } else {
            Err(errors)
        }
    }
}

pub async fn list_orders(pool: &Pool, filter: &ListFilter) -> Result<Page, OrderError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(&format!(
            "SELECT {VIEW_COLUMNS} FROM orders o LEFT JOIN order_views v USING (order_id)
             WHERE ($1::text IS NULL OR o.customer_id = $1)
               AND ($2::text IS NULL OR COALESCE(v.status, 'PENDING') = $2)
               AND ($3::timestamptz IS NULL OR (o.created_at, o.order_id) < ($3, $4))
             ORDER BY o.created_at DESC, o.order_id DESC
             LIMIT $5"
        ))
        .await?;
    let status = filter.status.map(OrderStatus::as_str);
    let rows = client
        .query(
            &statement,
            &[
                &filter.customer_id,
                &status,
                &filter.cursor.map(|c| c.created_at),
                &filter.cursor.map(|c| c.order_id),
                &(filter.limit + 1),
            ],
        )
        .await?;
    let mut items: Vec<OrderView> = rows.iter().map(view).collect();
    let next_cursor = if items.len() as i64 > filter.limit {
        items.truncate(filter.limit as usize);
        items.last().map(|last| {
            Cursor {
                created_at: last.created_at,
                order_id: last.order_id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

#[derive(Debug, Serialize)]
pub struct AppliedEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub occurred_at: DateTime<Utc>,
    pub trace_id: Option<String>,
}

pub async fn order_events(pool: &Pool, order_id: Uuid) -> Result<Vec<AppliedEvent>, OrderError> {
    let client = pool.get().await?;
    let known = client
        .query_opt("SELECT 1 FROM orders WHERE order_id = $1", &[&order_id])
        .await?;
    if known.is_none() {
        return Err(OrderError::NotFound);
    }
    let rows = client
        .query(
            "SELECT event_id, event_type, topic, kafka_partition, kafka_offset, occurred_at, trace_id
             FROM order_view_events WHERE order_id = $1 ORDER BY seq",
            &[&order_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AppliedEvent {
            event_id: r.get(0),
            event_type: r.get(1),
            topic: r.get(2),
            partition: r.get(3),
            offset: r.get(4),
            occurred_at: r.get(5),
            trace_id: r.get(6),
        })
        .collect())
}
