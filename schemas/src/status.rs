//! The lifecycle statuses of payments and shipments: payment-service and shipping-service
//! store and show them, order-service's read model shows them beside the order. One enum
//! each, so the three services and their OpenAPI documents name the same values.

use serde::{Deserialize, Serialize};

/// A payment's status: the event that last changed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    Authorized,
    Declined,
    Refunded,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 3] = [Self::Authorized, Self::Declined, Self::Refunded];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorized => "AUTHORIZED",
            Self::Declined => "DECLINED",
            Self::Refunded => "REFUNDED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// A shipment's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipmentStatus {
    Scheduled,
    Dispatched,
    Delivered,
    Cancelled,
}

impl ShipmentStatus {
    pub const ALL: [ShipmentStatus; 4] = [
        Self::Scheduled,
        Self::Dispatched,
        Self::Delivered,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "SCHEDULED",
            Self::Dispatched => "DISPATCHED",
            Self::Delivered => "DELIVERED",
            Self::Cancelled => "CANCELLED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serialized_ones() {
        for status in PaymentStatus::ALL {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        for status in ShipmentStatus::ALL {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
            assert_eq!(ShipmentStatus::parse(status.as_str()), Some(status));
        }
    }
}
