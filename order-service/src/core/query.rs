//! Reads: one order, a customer's orders, an order's applied events. Answered from the read
//! model, completed by the order row so that an accepted order is visible before the
//! projector has seen it (read your writes).

use super::OrderError;
use crate::domain::{
    new_order::{CustomerId, Item},
    status::{CancellationStatus, OrderStatus},
};
use chrono::{DateTime, Utc};
use platform::{
    db::Pool,
    http::{
        validate::{checked, integer_schema, string_schema, Errors, Field},
        FieldError,
    },
};
use schemas::{PaymentStatus, ShipmentStatus};
use serde::{Deserialize, Deserializer, Serialize};
use tokio_postgres::Row;
use utoipa::{openapi::schema::Schema, openapi::RefOr, PartialSchema, ToSchema};
use uuid::Uuid;

/// An order as clients see it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub order_id: Uuid,
    pub customer_id: String,
    pub currency: String,
    pub items: Vec<Item>,
    pub total_cents: i64,
    pub status: OrderStatus,
    /// Why the order was cancelled, once it is.
    pub cancellation_reason: Option<String>,
    /// What became of a customer's cancellation request, if there was one.
    pub cancellation: Option<CancellationView>,
    pub payment: Option<PaymentView>,
    pub shipment: Option<ShipmentView>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct CancellationView {
    pub status: CancellationStatus,
    /// Shipping's reason, when it rejected the request.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PaymentView {
    pub payment_id: Uuid,
    pub status: PaymentStatus,
    pub amount_cents: i64,
    pub decline_reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ShipmentView {
    pub shipment_id: Uuid,
    pub status: ShipmentStatus,
}

/// A status column, written by this service from the same enum.
fn status<T>(text: Option<String>, parse: fn(&str) -> Option<T>) -> T {
    text.as_deref()
        .and_then(parse)
        .expect("status columns hold the statuses the projector writes")
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
        status: status(row.get(8), PaymentStatus::parse),
        amount_cents: row.get::<_, Option<i64>>(9).unwrap_or_default(),
        decline_reason: row.get(10),
    });
    let shipment = row
        .get::<_, Option<Uuid>>(11)
        .map(|shipment_id| ShipmentView {
            shipment_id,
            status: status(row.get(12), ShipmentStatus::parse),
        });
    OrderView {
        order_id: row.get(0),
        customer_id: row.get(1),
        currency: row.get(2),
        items: serde_json::from_value(items).unwrap_or_default(),
        total_cents: row.get(4),
        status: status(row.get(5), OrderStatus::parse),
        cancellation_reason: row.get(6),
        cancellation: row
            .get::<_, Option<String>>(16)
            .map(|text| CancellationView {
                status: status(Some(text), CancellationStatus::parse),
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
#[derive(Debug, Serialize, ToSchema)]
pub struct Page {
    pub items: Vec<OrderView>,
    /// Where the next page starts (the `cursor` of the next request); absent on the last page.
    #[schema(value_type = Option<Cursor>)]
    pub next_cursor: Option<String>,
}

/// Where the previous page ended: its last order's creation time and id. As text
/// `<microseconds since 1970>_<order id as 32 hex digits>`, strictly: what [`Cursor::encode`]
/// writes, and only that, is read back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub order_id: Uuid,
}

impl Cursor {
    const RULE: &str = "is not a cursor this API returned";

    pub fn encode(&self) -> String {
        format!(
            "{}_{}",
            self.created_at.timestamp_micros(),
            self.order_id.simple()
        )
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (micros, id) = text.split_once('_')?;
        // 16 digits reach the year 2286; a 17th would step out of what the pattern allows.
        let digits = |s: &str, len: std::ops::RangeInclusive<usize>, hex: bool| {
            len.contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (hex && (b'a'..=b'f').contains(&b)))
        };
        if !digits(micros, 1..=16, false) || !digits(id, 32..=32, true) {
            return None;
        }
        Some(Cursor {
            created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            order_id: id.parse().ok()?,
        })
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, Self::RULE, |s: String| Cursor::decode(&s))
    }
}

impl PartialSchema for Cursor {
    fn schema() -> RefOr<Schema> {
        string_schema(
            "^[0-9]{1,16}_[0-9a-f]{32}$",
            "Opaque to clients: the `next_cursor` of the previous page",
        )
    }
}

impl ToSchema for Cursor {}

/// A page size: 1 to [`ListFilter::MAX_LIMIT`]. From a query string, so digits are read too.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit(i64);

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rule = format!("must be 1 to {}", ListFilter::MAX_LIMIT);
        checked(d, &rule, |value: serde_json::Value| {
            let n = match value {
                serde_json::Value::Number(n) => n.as_i64(),
                serde_json::Value::String(s) if s.bytes().all(|b| b.is_ascii_digit()) => {
                    s.parse().ok()
                }
                _ => None,
            }?;
            (1..=ListFilter::MAX_LIMIT).contains(&n).then_some(Limit(n))
        })
    }
}

impl PartialSchema for Limit {
    fn schema() -> RefOr<Schema> {
        integer_schema(1, ListFilter::MAX_LIMIT, "Page size")
    }
}

impl ToSchema for Limit {}

/// The filters of `GET /orders` (and gRPC's `ListOrders`) as sent.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this customer's orders.
    #[serde(default)]
    #[param(value_type = Option<CustomerId>, inline)]
    pub customer_id: Field<CustomerId>,
    /// Only orders in this status.
    #[serde(default)]
    #[param(value_type = Option<OrderStatus>, inline)]
    pub status: Field<OrderStatus>,
    /// Page size (default 50).
    #[serde(default)]
    #[param(value_type = Option<Limit>, inline)]
    pub limit: Field<Limit>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    #[param(value_type = Option<Cursor>, inline)]
    pub cursor: Field<Cursor>,
}

pub struct ListFilter {
    pub customer_id: Option<CustomerId>,
    pub status: Option<OrderStatus>,
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

impl ListFilter {
    /// The largest page.
    pub const MAX_LIMIT: i64 = 200;
    /// The page size when none is asked for.
    pub const DEFAULT_LIMIT: i64 = 50;
}

impl TryFrom<ListQuery> for ListFilter {
    type Error = Vec<FieldError>;

    /// Every invalid filter named.
    fn try_from(query: ListQuery) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        let customer_id = errors.optional("customer_id", query.customer_id);
        let status = match query.status {
            Field::Invalid(_) => {
                errors.push("status", "is not an order status");
                None
            }
            other => errors.optional("status", other),
        };
        let limit = errors.optional("limit", query.limit);
        let cursor = errors.optional("cursor", query.cursor);
        errors.finish(|| {
            Some(ListFilter {
                customer_id: customer_id?,
                status: status?,
                limit: limit?.map_or(Self::DEFAULT_LIMIT, |l| l.0),
                cursor: cursor?,
            })
        })
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
                &filter.customer_id.as_ref().map(CustomerId::as_str),
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

/// An event the read model applied to an order, where it came from and its trace.
#[derive(Debug, Serialize, ToSchema)]
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
