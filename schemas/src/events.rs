//! The Rust records of the contract, one per `.avsc` file.
//!
//! Field names and order mirror the newest schema exactly; `tests/contract.rs` fails when a
//! struct and its schema disagree on any field.

use crate::catalog::catalog;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Avro `uuid` is a logical type over `string`: serialize UUIDs as text whatever the
/// serializer's human-readable setting (apache-avro's defaults to bytes).
fn uuid_text<S: serde::Serializer>(id: &Uuid, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

fn opt_uuid_text<S: serde::Serializer>(id: &Option<Uuid>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_some(&id.to_string()),
        None => s.serialize_none(),
    }
}

/// The fields every event starts with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventHeader {
    #[serde(serialize_with = "uuid_text")]
    pub event_id: Uuid,
    /// Milliseconds since the Unix epoch (Avro `timestamp-millis`).
    pub occurred_at: i64,
    #[serde(serialize_with = "uuid_text")]
    pub order_id: Uuid,
}

impl EventHeader {
    /// A header for a new event about `order_id`, stamped now.
    pub fn new(order_id: Uuid) -> Self {
        let occurred_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        EventHeader {
            event_id: Uuid::new_v4(),
            occurred_at,
            order_id,
        }
    }
}

/// Declares an event record: the header fields (flattened into the record, as in the schema)
/// followed by the event's own fields.
macro_rules! event {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub struct $name {
            #[serde(flatten)]
            pub header: EventHeader,
            $($(#[$fmeta])* pub $field: $ty,)*
        }
    };
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub sku: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

event!(
    /// A customer placed an order.
    OrderPlaced {
        customer_id: String,
        currency: String,
        items: Vec<OrderItem>,
        total_cents: i64,
        /// Added in v2; v1 events read as `"api"`.
        sales_channel: String,
    }
);
event!(
    /// The customer asked to cancel; shipping decides whether that is still possible.
    OrderCancellationRequested { reason: String }
);
event!(
    /// The order is cancelled for good.
    OrderCancelled { reason: String }
);
event!(PaymentAuthorized {
    #[serde(serialize_with = "uuid_text")]
    payment_id: Uuid,
    amount_cents: i64,
    currency: String
});
event!(PaymentDeclined {
    #[serde(serialize_with = "uuid_text")]
    payment_id: Uuid,
    amount_cents: i64,
    currency: String,
    reason: String
});
event!(PaymentRefunded {
    #[serde(serialize_with = "uuid_text")]
    payment_id: Uuid,
    amount_cents: i64,
    currency: String
});
event!(ShipmentScheduled {
    #[serde(serialize_with = "uuid_text")]
    shipment_id: Uuid
});
event!(ShipmentDispatched {
    #[serde(serialize_with = "uuid_text")]
    shipment_id: Uuid
});
event!(ShipmentDelivered {
    #[serde(serialize_with = "uuid_text")]
    shipment_id: Uuid
});
event!(ShipmentCancelled {
    #[serde(serialize_with = "uuid_text")]
    shipment_id: Uuid
});
event!(
    /// Shipping agreed to a customer cancellation.
    CancellationAccepted {
        #[serde(serialize_with = "opt_uuid_text")]
        shipment_id: Option<Uuid>,
    }
);
event!(
    /// Shipping refused a customer cancellation: the shipment already left.
    CancellationRejected { #[serde(serialize_with = "uuid_text")] shipment_id: Uuid, reason: String }
);

catalog! {
    OrderPlaced => Orders, "orders", ["OrderPlaced.v1.avsc", "OrderPlaced.v2.avsc"];
    OrderCancellationRequested => Orders, "orders", ["OrderCancellationRequested.v1.avsc"];
    OrderCancelled => Orders, "orders", ["OrderCancelled.v1.avsc"];
    PaymentAuthorized => Payments, "payments", ["PaymentAuthorized.v1.avsc"];
    PaymentDeclined => Payments, "payments", ["PaymentDeclined.v1.avsc"];
    PaymentRefunded => Payments, "payments", ["PaymentRefunded.v1.avsc"];
    ShipmentScheduled => Shipments, "shipments", ["ShipmentScheduled.v1.avsc"];
    ShipmentDispatched => Shipments, "shipments", ["ShipmentDispatched.v1.avsc"];
    ShipmentDelivered => Shipments, "shipments", ["ShipmentDelivered.v1.avsc"];
    ShipmentCancelled => Shipments, "shipments", ["ShipmentCancelled.v1.avsc"];
    CancellationAccepted => Shipments, "shipments", ["CancellationAccepted.v1.avsc"];
    CancellationRejected => Shipments, "shipments", ["CancellationRejected.v1.avsc"];
}
