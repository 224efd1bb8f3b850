//! The lifecycle statuses of payments and shipments: payment-service and shipping-service
//! store and show them, order-service's read model shows them beside the order. One enum
//! each, so the three services and their OpenAPI documents name the same values.

use serde::{Deserialize, Serialize};

/// Implements `tokio_postgres`'s `FromSql` for a status enum with `parse(&str) -> Option<Self>`,
/// stored by its name in a `TEXT` column: `row.get::<_, Status>(i)` (or `Option<Status>`). A
/// name the enum does not know is an error of the read, not a silent `None`. One macro for every
/// status of the workspace (order-service's own use it too).
#[cfg(feature = "postgres")]
#[macro_export]
macro_rules! status_from_sql {
    ($($status:ty),+ $(,)?) => {$(
        impl<'a> $crate::status::postgres::FromSql<'a> for $status {
            fn from_sql(
                ty: &$crate::status::postgres::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                let name = <&str as $crate::status::postgres::FromSql>::from_sql(ty, raw)?;
                <$status>::parse(name)
                    .ok_or_else(|| format!("{name:?} is no {}", stringify!($status)).into())
            }

            fn accepts(ty: &$crate::status::postgres::Type) -> bool {
                <&str as $crate::status::postgres::FromSql>::accepts(ty)
            }
        }
    )+};
}

/// What [`status_from_sql`] expands to needs, so its users need no `tokio-postgres` of their own.
#[cfg(feature = "postgres")]
#[doc(hidden)]
pub mod postgres {
    pub use tokio_postgres::types::{FromSql, Type};
}

#[cfg(feature = "postgres")]
status_from_sql!(PaymentStatus, ShipmentStatus);

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

    #[cfg(feature = "postgres")]
    #[test]
    fn a_column_reads_as_its_status_and_an_unknown_name_is_an_error() {
        use tokio_postgres::types::{FromSql, Type};
        for status in ShipmentStatus::ALL {
            let read = ShipmentStatus::from_sql(&Type::TEXT, status.as_str().as_bytes());
            assert_eq!(read.unwrap(), status);
        }
        let unknown = PaymentStatus::from_sql(&Type::TEXT, b"LOST").unwrap_err();
        assert!(
            unknown.to_string().contains("\"LOST\" is no PaymentStatus"),
            "{unknown}"
        );
        assert!(<PaymentStatus as FromSql>::accepts(&Type::TEXT));
        assert!(!<PaymentStatus as FromSql>::accepts(&Type::INT4));
    }
}
