//! One sample of every event type, shared by the contract and evolution tests.
// Each test binary uses part of this module.
#![allow(dead_code)]

use schemas::*;
use uuid::Uuid;

pub fn header() -> EventHeader {
    EventHeader::new(Uuid::new_v4())
}

pub fn order_placed() -> OrderPlaced {
    OrderPlaced {
        header: header(),
        customer_id: "c-1".into(),
        currency: "EUR".into(),
        items: vec![OrderItem {
            sku: "sku-1".into(),
            quantity: 2,
            unit_price_cents: 1250,
        }],
        total_cents: 2500,
        sales_channel: "web".into(),
    }
}

pub fn all() -> Vec<DomainEvent> {
    let id = Uuid::new_v4();
    vec![
        order_placed().into(),
        OrderCancellationRequested {
            header: header(),
            reason: "CUSTOMER_REQUEST".into(),
        }
        .into(),
        OrderCancelled {
            header: header(),
            reason: "PAYMENT_DECLINED".into(),
        }
        .into(),
        PaymentAuthorized {
            header: header(),
            payment_id: id,
            amount_cents: 10,
            currency: "EUR".into(),
        }
        .into(),
        PaymentDeclined {
            header: header(),
            payment_id: id,
            amount_cents: 10,
            currency: "EUR".into(),
            reason: "LIMIT_EXCEEDED".into(),
        }
        .into(),
        PaymentRefunded {
            header: header(),
            payment_id: id,
            amount_cents: 10,
            currency: "EUR".into(),
        }
        .into(),
        ShipmentScheduled {
            header: header(),
            shipment_id: id,
        }
        .into(),
        ShipmentDispatched {
            header: header(),
            shipment_id: id,
        }
        .into(),
        ShipmentDelivered {
            header: header(),
            shipment_id: id,
        }
        .into(),
        ShipmentCancelled {
            header: header(),
            shipment_id: id,
        }
        .into(),
        CancellationAccepted {
            header: header(),
            shipment_id: Some(id),
        }
        .into(),
        CancellationAccepted {
            header: header(),
            shipment_id: None,
        }
        .into(),
        CancellationRejected {
            header: header(),
            shipment_id: id,
            reason: "ALREADY_DISPATCHED".into(),
        }
        .into(),
    ]
}
