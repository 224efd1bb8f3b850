//! The order status read model: facts gathered from events, and the status derived from them.
//!
//! Events of different topics reach the projector in any order (a `ShipmentScheduled` can
//! overtake the `PaymentAuthorized` it followed). So each fact only ever moves forward along
//! its own lifecycle (a later stage never goes back to an earlier one), and the status is a
//! function of the facts, not of the order they arrived in.

use schemas::{DomainEvent, PaymentStatus, ShipmentStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An order's status, derived from the events applied to it (`Facts::status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Paid,
    ShipmentScheduled,
    Shipped,
    Delivered,
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::ShipmentScheduled,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "PENDING",
            OrderStatus::Paid => "PAID",
            OrderStatus::ShipmentScheduled => "SHIPMENT_SCHEDULED",
            OrderStatus::Shipped => "SHIPPED",
            OrderStatus::Delivered => "DELIVERED",
            OrderStatus::Cancelled => "CANCELLED",
        }
    }

    /// No status follows these.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Delivered | OrderStatus::Cancelled)
    }

    pub fn parse(s: &str) -> Option<Self> {
        OrderStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// What became of a customer's cancellation request: `REQUESTED`, then shipping's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CancellationStatus {
    Requested,
    Accepted,
    Rejected,
}

impl CancellationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "REQUESTED",
            Self::Accepted => "ACCEPTED",
            Self::Rejected => "REJECTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "REQUESTED" => Some(Self::Requested),
            "ACCEPTED" => Some(Self::Accepted),
            "REJECTED" => Some(Self::Rejected),
            _ => None,
        }
    }
}

schemas::status_from_sql!(OrderStatus, CancellationStatus);

/// A lifecycle stage with a rank: facts keep the highest-ranked stage seen (none is 0).
fn payment_rank(status: PaymentStatus) -> u8 {
    match status {
        PaymentStatus::Authorized | PaymentStatus::Declined => 1,
        PaymentStatus::Refunded => 2,
    }
}

fn cancellation_request_rank(status: CancellationStatus) -> u8 {
    match status {
        CancellationStatus::Requested => 1,
        CancellationStatus::Accepted | CancellationStatus::Rejected => 2,
    }
}

fn shipment_rank(status: ShipmentStatus) -> u8 {
    match status {
        ShipmentStatus::Scheduled => 1,
        ShipmentStatus::Cancelled => 2,
        ShipmentStatus::Dispatched => 3,
        ShipmentStatus::Delivered => 4,
    }
}

/// The dynamic part of an order's view, as stored in `order_views`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub cancellation_reason: Option<String>,
    pub payment_id: Option<Uuid>,
    pub payment_status: Option<PaymentStatus>,
    pub payment_amount: Option<i64>,
    pub decline_reason: Option<String>,
    pub shipment_id: Option<Uuid>,
    pub shipment_status: Option<ShipmentStatus>,
    /// A customer's cancellation request: `REQUESTED`, then shipping's decision, `ACCEPTED`
    /// or `REJECTED` (with `cancellation_rejected_reason`).
    pub cancellation_request: Option<CancellationStatus>,
    pub cancellation_rejected_reason: Option<String>,
    pub version: i64,
}

impl Facts {
    /// Applies one event. Every applied event counts towards `version`, whether or not it
    /// changes the status.
    pub fn apply(&mut self, event: &DomainEvent) {
        self.version += 1;
        match event {
            DomainEvent::OrderCancelled(e) => {
                self.cancellation_reason
                    .get_or_insert_with(|| e.reason.clone());
            }
            DomainEvent::PaymentAuthorized(e) => {
                self.payment(e.payment_id, e.amount_cents, PaymentStatus::Authorized)
            }
            DomainEvent::PaymentDeclined(e) => {
                self.payment(e.payment_id, e.amount_cents, PaymentStatus::Declined);
                self.decline_reason = Some(e.reason.clone());
            }
            DomainEvent::PaymentRefunded(e) => {
                self.payment(e.payment_id, e.amount_cents, PaymentStatus::Refunded)
            }
            DomainEvent::ShipmentScheduled(e) => {
                self.shipment(e.shipment_id, ShipmentStatus::Scheduled)
            }
            DomainEvent::ShipmentDispatched(e) => {
                self.shipment(e.shipment_id, ShipmentStatus::Dispatched)
            }
            DomainEvent::ShipmentDelivered(e) => {
                self.shipment(e.shipment_id, ShipmentStatus::Delivered)
            }
            DomainEvent::ShipmentCancelled(e) => {
                self.shipment(e.shipment_id, ShipmentStatus::Cancelled)
            }
            DomainEvent::OrderCancellationRequested(_) => {
                self.cancellation_request(CancellationStatus::Requested)
            }
            DomainEvent::CancellationAccepted(_) => {
                self.cancellation_request(CancellationStatus::Accepted)
            }
            DomainEvent::CancellationRejected(e) => {
                self.cancellation_request(CancellationStatus::Rejected);
                self.cancellation_rejected_reason = Some(e.reason.clone());
            }
            DomainEvent::OrderPlaced(_) => {}
        }
    }

    fn payment(&mut self, id: Uuid, amount: i64, status: PaymentStatus) {
        self.payment_id = Some(id);
        self.payment_amount = Some(amount);
        if payment_rank(status) > self.payment_status.map_or(0, payment_rank) {
            self.payment_status = Some(status);
        }
    }

    fn cancellation_request(&mut self, status: CancellationStatus) {
        let current = self.cancellation_request;
        if cancellation_request_rank(status) > current.map_or(0, cancellation_request_rank) {
            self.cancellation_request = Some(status);
        }
    }

    fn shipment(&mut self, id: Uuid, status: ShipmentStatus) {
        self.shipment_id = Some(id);
        if shipment_rank(status) > self.shipment_status.map_or(0, shipment_rank) {
            self.shipment_status = Some(status);
        }
    }

    pub fn status(&self) -> OrderStatus {
        if self.cancellation_reason.is_some() {
            return OrderStatus::Cancelled;
        }
        match self.shipment_status {
            Some(ShipmentStatus::Delivered) => return OrderStatus::Delivered,
            Some(ShipmentStatus::Dispatched) => return OrderStatus::Shipped,
            Some(ShipmentStatus::Scheduled) => return OrderStatus::ShipmentScheduled,
            Some(ShipmentStatus::Cancelled) | None => {}
        }
        match self.payment_status {
            Some(PaymentStatus::Authorized) => OrderStatus::Paid,
            _ => OrderStatus::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::*;

    fn events(order_id: Uuid) -> Vec<DomainEvent> {
        let header = || EventHeader::new(order_id);
        let payment_id = Uuid::new_v4();
        let shipment_id = Uuid::new_v4();
        vec![
            PaymentAuthorized {
                header: header(),
                payment_id,
                amount_cents: 5,
                currency: "EUR".into(),
            }
            .into(),
            ShipmentScheduled {
                header: header(),
                shipment_id,
            }
            .into(),
            ShipmentDispatched {
                header: header(),
                shipment_id,
            }
            .into(),
            ShipmentDelivered {
                header: header(),
                shipment_id,
            }
            .into(),
        ]
    }

    #[test]
    fn status_follows_the_happy_path() {
        let mut facts = Facts::default();
        assert_eq!(facts.status(), OrderStatus::Pending);
        let expected = [
            OrderStatus::Paid,
            OrderStatus::ShipmentScheduled,
            OrderStatus::Shipped,
            OrderStatus::Delivered,
        ];
        for (event, status) in events(Uuid::new_v4()).iter().zip(expected) {
            facts.apply(event);
            assert_eq!(facts.status(), status);
        }
        assert_eq!(facts.version, 4);
    }

    #[test]
    fn any_arrival_order_gives_the_same_view() {
        let all = events(Uuid::new_v4());
        let mut forward = Facts::default();
        all.iter().for_each(|e| forward.apply(e));
        let mut backward = Facts::default();
        all.iter().rev().for_each(|e| backward.apply(e));
        assert_eq!(forward, backward);
        assert_eq!(backward.status(), OrderStatus::Delivered);
    }

    #[test]
    fn cancellation_wins_and_a_refund_is_kept() {
        let order_id = Uuid::new_v4();
        let header = || EventHeader::new(order_id);
        let payment_id = Uuid::new_v4();
        let (amount_cents, currency) = (5, "EUR".to_owned());
        let arrivals: [DomainEvent; 3] = [
            PaymentRefunded {
                header: header(),
                payment_id,
                amount_cents,
                currency: currency.clone(),
            }
            .into(),
            PaymentAuthorized {
                header: header(),
                payment_id,
                amount_cents,
                currency,
            }
            .into(),
            OrderCancelled {
                header: header(),
                reason: "CUSTOMER_REQUEST".into(),
            }
            .into(),
        ];
        let mut facts = Facts::default();
        arrivals.iter().for_each(|e| facts.apply(e));
        assert_eq!(facts.payment_status, Some(PaymentStatus::Refunded));
        assert_eq!(facts.status(), OrderStatus::Cancelled);
    }

    #[test]
    fn a_rejected_cancellation_request_is_kept_whatever_the_arrival_order() {
        let order_id = Uuid::new_v4();
        let requested: DomainEvent = OrderCancellationRequested {
            header: EventHeader::new(order_id),
            reason: "CUSTOMER_REQUEST".into(),
        }
        .into();
        let rejected: DomainEvent = CancellationRejected {
            header: EventHeader::new(order_id),
            shipment_id: Uuid::new_v4(),
            reason: "ALREADY_DISPATCHED".into(),
        }
        .into();
        for events in [[&requested, &rejected], [&rejected, &requested]] {
            let mut facts = Facts::default();
            events.iter().for_each(|e| facts.apply(e));
            assert_eq!(
                facts.cancellation_request,
                Some(CancellationStatus::Rejected)
            );
            assert_eq!(
                facts.cancellation_rejected_reason.as_deref(),
                Some("ALREADY_DISPATCHED")
            );
            assert_eq!(
                facts.status(),
                OrderStatus::Pending,
                "a refusal changes no status"
            );
        }
    }
}
