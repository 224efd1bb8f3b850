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
use tokio_postgres::{types::ToSql, Row};
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

const VIEW_COLUMNS: &str = "o.order_id, o.customer_id, o.currency, o.items, o.total_cents,
    COALESCE(v.status, 'PENDING'), v.cancellation_reason, v.payment_id, v.payment_status,
    v.payment_amount, v.decline_reason, v.shipment_id, v.shipment_status,
    COALESCE(v.version, 0), o.created_at, COALESCE(v.updated_at, o.created_at),
    v.cancellation_request, v.cancellation_rejected_reason";

fn view(row: &Row) -> OrderView {
    let items: serde_json::Value = row.get(3);
    let payment = row.get::<_, Option<Uuid>>(7).map(|payment_id| PaymentView {
        payment_id,
        status: row.get(8),
        amount_cents: row.get::<_, Option<i64>>(9).unwrap_or_default(),
        decline_reason: row.get(10),
    });
    let shipment = row
        .get::<_, Option<Uuid>>(11)
        .map(|shipment_id| ShipmentView {
            shipment_id,
            status: row.get(12),
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
            .get::<_, Option<CancellationStatus>>(16)
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

/// The statement [`find_order`] runs (`$1`: the order id); the benches' raw PostgreSQL
/// baseline of `GET /orders/{id}` runs the same.
pub fn find_order_sql() -> String {
    format!(
        "SELECT {VIEW_COLUMNS} FROM orders o LEFT JOIN order_views v USING (order_id)
         WHERE o.order_id = $1"
    )
}

pub async fn find_order(pool: &Pool, order_id: Uuid) -> Result<OrderView, OrderError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(&find_order_sql()).await?;
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

    /// Before every order: where the first page starts. (Year 9999, and the largest id.)
    fn before_all() -> Self {
        Cursor {
            created_at: DateTime::from_timestamp(253_402_300_799, 0).expect("a valid time"),
            order_id: Uuid::max(),
        }
    }

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

/// The list statements, one per filter shape, so that each keeps a plan of its own that walks
/// an index in the list's order (newest first) from the cursor and stops after a page: the
/// cost of a page does not grow with the tables. (One statement for every shape, `$1 IS NULL
/// OR ..`, gets one generic plan, which scans the tables whole for a filter it was not
/// planned for.) `$1`, `$2`: the cursor; `$3`: the page size plus one; then the filters.
///
/// The page size is a parameter, which a generic plan (PostgreSQL's choice for a statement
/// run many times) cannot see: it assumes a tenth of the table and prefers scanning it whole
/// and sorting (or a parallel scan), a cost that grows with the tables. So each
/// statement selects at most the largest page in a subquery, a `LIMIT` the planner sees, and
/// the outer `LIMIT $3` stops it after the rows asked for; a `LIMIT` keeps the order of the
/// rows below it.
mod list_sql {
    use super::{ListFilter, VIEW_COLUMNS};

    /// `query` (ordered newest first), at most a page.
    fn page(query: String) -> String {
        format!(
            "SELECT * FROM ({query} LIMIT {}) AS page LIMIT $3",
            ListFilter::MAX_LIMIT + 1
        )
    }

    /// Every order: `orders_newest`.
    pub fn all() -> String {
        page(format!(
            "SELECT {VIEW_COLUMNS} FROM orders o LEFT JOIN order_views v USING (order_id)
             WHERE (o.created_at, o.order_id) < ($1, $2)
             ORDER BY o.created_at DESC, o.order_id DESC"
        ))
    }

    /// A customer's orders (`$4`): `orders_customer_newest`.
    pub fn customer() -> String {
        page(format!(
            "SELECT {VIEW_COLUMNS} FROM orders o LEFT JOIN order_views v USING (order_id)
             WHERE o.customer_id = $4 AND (o.created_at, o.order_id) < ($1, $2)
             ORDER BY o.created_at DESC, o.order_id DESC"
        ))
    }

    /// Orders in one status (`$4`): `order_views_status_newest`. Every order has its view
    /// from its placement on, so the views alone know them all.
    pub fn status() -> String {
        page(format!(
            "SELECT {VIEW_COLUMNS} FROM order_views v JOIN orders o USING (order_id)
             WHERE v.status = $4 AND (v.order_created_at, v.order_id) < ($1, $2)
             ORDER BY v.order_created_at DESC, v.order_id DESC"
        ))
    }

    /// A customer's orders (`$4`) in one status (`$5`): the customer's orders newest first
    /// (`orders_customer_newest`), the status checked on each, so the cost is bounded by
    /// that customer's orders.
    pub fn customer_status() -> String {
        page(format!(
            "SELECT {VIEW_COLUMNS} FROM orders o LEFT JOIN order_views v USING (order_id)
             WHERE o.customer_id = $4 AND COALESCE(v.status, 'PENDING') = $5
               AND (o.created_at, o.order_id) < ($1, $2)
             ORDER BY o.created_at DESC, o.order_id DESC"
        ))
    }
}

pub async fn list_orders(pool: &Pool, filter: &ListFilter) -> Result<Page, OrderError> {
    let client = pool.get().await?;
    let status = filter.status.map(OrderStatus::as_str);
    let customer_id = filter.customer_id.as_ref().map(CustomerId::as_str);
    let sql = match (customer_id, status) {
        (None, None) => list_sql::all(),
        (Some(_), None) => list_sql::customer(),
        (None, Some(_)) => list_sql::status(),
        (Some(_), Some(_)) => list_sql::customer_status(),
    };
    let statement = client.prepare_cached(&sql).await?;
    let cursor = filter.cursor.unwrap_or_else(Cursor::before_all);
    let limit = filter.limit + 1;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&cursor.created_at, &cursor.order_id, &limit];
    if let Some(customer_id) = &customer_id {
        params.push(customer_id);
    }
    if let Some(status) = &status {
        params.push(status);
    }
    let rows = client.query(&statement, &params).await?;
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

/// The events applied to an order's view, in the order they happened (their `occurred_at`,
/// then the order the projector applied them in): a projector that catches up reads the three
/// topics side by side and may apply a shipment before the placement it follows, but the
/// timeline a reader sees starts with the placement. One prepared statement, by the order's
/// primary key and `order_view_events_order` (an order has a handful of events to sort). The
/// order's row tells an unknown order (no row) from one without events yet (a row of NULLs).
pub async fn order_events(pool: &Pool, order_id: Uuid) -> Result<Vec<AppliedEvent>, OrderError> {
    let client = pool.get().await?;
    let statement = client
        .prepare_cached(
            "SELECT e.event_id, e.event_type, e.topic, e.kafka_partition, e.kafka_offset,
                    e.occurred_at, e.trace_id
             FROM orders o LEFT JOIN order_view_events e USING (order_id)
             WHERE o.order_id = $1 ORDER BY e.occurred_at, e.seq",
        )
        .await?;
    let rows = client.query(&statement, &[&order_id]).await?;
    if rows.is_empty() {
        return Err(OrderError::NotFound);
    }
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(AppliedEvent {
                event_id: r.get::<_, Option<Uuid>>(0)?,
                event_type: r.get(1),
                topic: r.get(2),
                partition: r.get(3),
                offset: r.get(4),
                occurred_at: r.get(5),
                trace_id: r.get(6),
            })
        })
        .collect())
}
