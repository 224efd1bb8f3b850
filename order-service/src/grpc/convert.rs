//! Protobuf messages to and from the core's types.

use super::status;
use crate::{
    core::query::{CancellationView, ListQuery, OrderView, PaymentView, ShipmentView},
    domain::{new_order::NewOrderRequest, status::OrderStatus},
};
use chrono::{DateTime, Utc};
use orderflow_proto::v1 as pb;
use platform::http::validate::Closed;
use platform::http::FieldError;
use serde_json::{json, Value};
use std::borrow::Cow;
use tonic::Status;
use uuid::Uuid;

/// The proto enum's names are the REST statuses with a prefix (`ORDER_STATUS_PENDING`).
const STATUS_PREFIX: &str = "ORDER_STATUS_";

/// An order id from a request: anything but a UUID is an invalid `order_id`.
pub fn order_id(raw: &str) -> Result<Uuid, Status> {
    raw.parse()
        .map_err(|_| status::invalid(vec![FieldError::new("order_id", "must be a UUID")]))
}

/// The request as REST would have received it, so that [`crate::domain::new_order`] checks it
/// by the very same rules, names the same fields, and the idempotency store compares the same
/// normalized form whichever API placed the order. (Proto3 cannot tell an empty string from
/// an absent one; both are "is required", as in REST.)
pub fn new_order_request(request: &pb::PlaceOrderRequest) -> Closed<NewOrderRequest> {
    let items: Vec<Value> = request
        .items
        .iter()
        .map(|i| json!({"sku": i.sku, "quantity": i.quantity, "unit_price_cents": i.unit_price_cents}))
        .collect();
    let body = json!({
        "customer_id": request.customer_id,
        "currency": request.currency,
        "items": items,
    });
    serde_json::from_value(body).expect("a JSON object reads as a request")
}

/// The filters of `ListOrders` as REST's query string would carry them, checked by the same
/// rules.
pub fn list_query(request: &pb::ListOrdersRequest) -> ListQuery {
    let query = json!({
        "customer_id": request.customer_id,
        "status": status_filter(request.status),
        "limit": request.limit,
        "cursor": request.cursor,
    });
    serde_json::from_value(query).expect("a JSON object reads as a query")
}

/// The `status` filter of `ListOrders` as REST's query would name it: `None` for
/// UNSPECIFIED (any status), the number itself for a value this server does not know (which
/// then fails validation like an unknown REST status).
fn status_filter(value: i32) -> Option<Cow<'static, str>> {
    match pb::OrderStatus::try_from(value) {
        Ok(pb::OrderStatus::Unspecified) => None,
        Ok(known) => Some(Cow::Borrowed(
            known
                .as_str_name()
                .strip_prefix(STATUS_PREFIX)
                .unwrap_or_default(),
        )),
        Err(_) => Some(Cow::Owned(value.to_string())),
    }
}

fn status(status: OrderStatus) -> pb::OrderStatus {
    pb::OrderStatus::from_str_name(&format!("{STATUS_PREFIX}{}", status.as_str()))
        .unwrap_or(pb::OrderStatus::Unspecified)
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        // Below 1e9 by definition.
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// Whether no change can follow this view.
pub fn is_final(view: &OrderView) -> bool {
    view.status.is_final()
}

pub fn order(view: OrderView) -> pb::Order {
    pb::Order {
        order_id: view.order_id.to_string(),
        status: status(view.status).into(),
        customer_id: view.customer_id,
        currency: view.currency,
        items: view
            .items
            .into_iter()
            .map(|i| pb::Item {
                sku: i.sku.as_str().to_owned(),
                quantity: i.quantity.get(),
                unit_price_cents: i.unit_price_cents.get(),
            })
            .collect(),
        total_cents: view.total_cents,
        cancellation_reason: view.cancellation_reason,
        cancellation: view.cancellation.map(cancellation),
        payment: view.payment.map(payment),
        shipment: view.shipment.map(shipment),
        version: view.version,
        created_at: Some(timestamp(view.created_at)),
        updated_at: Some(timestamp(view.updated_at)),
    }
}

fn cancellation(c: CancellationView) -> pb::Cancellation {
    pb::Cancellation {
        status: c.status.as_str().to_owned(),
        reason: c.reason,
    }
}

fn payment(p: PaymentView) -> pb::Payment {
    pb::Payment {
        payment_id: p.payment_id.to_string(),
        status: p.status.as_str().to_owned(),
        amount_cents: p.amount_cents,
        decline_reason: p.decline_reason,
    }
}

fn shipment(s: ShipmentView) -> pb::Shipment {
    pb::Shipment {
        shipment_id: s.shipment_id.to_string(),
        status: s.status.as_str().to_owned(),
    }
}
