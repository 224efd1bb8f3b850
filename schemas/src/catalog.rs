//! Which event types exist, on which topic they travel, and their schemas.
//!
//! The list itself is the `catalog!` call in [`crate::events`], so adding an event type is one
//! line there plus its `.avsc` file.

use crate::events::EventType;
use std::fmt;

/// A Kafka topic of the contract. Partition counts and replication are deployment settings;
/// only the names are part of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    Orders,
    Payments,
    Shipments,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Topic::Orders, Topic::Payments, Topic::Shipments];

    pub fn name(self) -> &'static str {
        match self {
            Topic::Orders => "orders",
            Topic::Payments => "payments",
            Topic::Shipments => "shipments",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The dead-letter topic of the consumer group `group`, before a deployment's namespace: the
/// one rule that names it, for the contract's groups and any other.
pub fn dead_letter_topic(group: &str) -> String {
    format!("{group}.dlq")
}

/// A consumer group of the contract: who reads which topics. Each group also owns a dead-letter
/// topic, `<group>.dlq`. The scripts, the chart and the tests name the same groups; a test
/// (`tests/tests/contract_names.rs`) checks that they agree with [`Group::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    /// order-service's saga: cancels an order whose payment was declined or whose cancellation
    /// shipping accepted.
    OrderService,
    /// order-service's read model: the status of every order, from all three topics.
    OrderStatusProjector,
    /// payment-service: authorizes, declines and refunds.
    PaymentService,
    /// shipping-service: schedules shipments and decides cancellations.
    ShippingService,
}

impl Group {
    pub const ALL: [Group; 4] = [
        Group::OrderService,
        Group::OrderStatusProjector,
        Group::PaymentService,
        Group::ShippingService,
    ];

    /// The group id, before a deployment's namespace.
    pub const fn name(self) -> &'static str {
        match self {
            Group::OrderService => "order-service",
            Group::OrderStatusProjector => "order-status-projector",
            Group::PaymentService => "payment-service",
            Group::ShippingService => "shipping-service",
        }
    }

    /// The topics the group reads.
    pub fn reads(self) -> &'static [Topic] {
        match self {
            Group::OrderService => &[Topic::Payments, Topic::Shipments],
            Group::OrderStatusProjector => &Topic::ALL,
            Group::PaymentService => &[Topic::Orders],
            Group::ShippingService => &[Topic::Orders, Topic::Payments],
        }
    }

    /// Its dead-letter topic, before a deployment's namespace.
    pub fn dead_letter_topic(self) -> String {
        dead_letter_topic(self.name())
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Declares the event types: one line each with its topic, schema folder and schema history
/// (oldest first; the last file is the writer schema). Generates [`crate::EventType`] and
/// [`crate::DomainEvent`].
macro_rules! catalog {
    ($( $variant:ident => $topic:ident, $dir:literal, [$($file:literal),+ $(,)?] );+ $(;)?) => {
        /// One event type of the contract.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($variant),+
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant),+];

            /// The Avro full name, which is also the `event_type` header.
            pub fn full_name(self) -> &'static str {
                match self {
                    $(EventType::$variant => concat!("orderflow.", $dir, ".", stringify!($variant))),+
                }
            }

            pub fn topic(self) -> $crate::catalog::Topic {
                match self {
                    $(EventType::$variant => $crate::catalog::Topic::$topic),+
                }
            }

            /// Every version of the schema, oldest first, as the `.avsc` text.
            pub fn history(self) -> &'static [&'static str] {
                match self {
                    $(EventType::$variant => &[$(include_str!(concat!("../avro/", $dir, "/", $file))),+]),+
                }
            }

            pub fn from_full_name(name: &str) -> Option<EventType> {
                EventType::ALL.iter().copied().find(|t| t.full_name() == name)
            }
        }

        /// Any event of the contract, as a consumer sees it after decoding.
        #[derive(Clone, Debug, PartialEq)]
        pub enum DomainEvent {
            $($variant($variant)),+
        }

        impl DomainEvent {
            pub fn event_type(&self) -> EventType {
                match self {
                    $(DomainEvent::$variant(_) => EventType::$variant),+
                }
            }

            pub fn header(&self) -> &$crate::events::EventHeader {
                match self {
                    $(DomainEvent::$variant(e) => &e.header),+
                }
            }

            pub(crate) fn to_avro_value(&self) -> Result<apache_avro::types::Value, apache_avro::Error> {
                match self {
                    $(DomainEvent::$variant(e) => apache_avro::to_value(e)),+
                }
            }

            pub(crate) fn from_avro_value(
                event_type: EventType,
                value: &apache_avro::types::Value,
            ) -> Result<DomainEvent, apache_avro::Error> {
                Ok(match event_type {
                    $(EventType::$variant => DomainEvent::$variant(apache_avro::from_value(value)?)),+
                })
            }
        }

        /// The event's own record (no tag): how tools show a decoded value as JSON.
        impl serde::Serialize for DomainEvent {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(DomainEvent::$variant(e) => e.serialize(s)),+
                }
            }
        }

        $(impl From<$variant> for DomainEvent {
            fn from(e: $variant) -> Self {
                DomainEvent::$variant(e)
            }
        })+
    };
}
pub(crate) use catalog;

impl EventType {
    /// The newest schema, parsed once per process: decoding never parses per message.
    pub fn schema(self) -> &'static apache_avro::Schema {
        use std::sync::LazyLock;
        static PARSED: LazyLock<Vec<apache_avro::Schema>> = LazyLock::new(|| {
            EventType::ALL
                .iter()
                .map(|t| {
                    apache_avro::Schema::parse_str(t.schema_json())
                        .unwrap_or_else(|e| panic!("{} does not parse: {e}", t.full_name()))
                })
                .collect()
        });
        &PARSED[self.index()]
    }

    /// The newest schema's named types, resolved once per process, for resolving values
    /// against it without walking the schema per message.
    pub fn resolved(self) -> &'static apache_avro::schema::ResolvedSchema<'static> {
        use std::sync::LazyLock;
        static RESOLVED: LazyLock<Vec<apache_avro::schema::ResolvedSchema<'static>>> =
            LazyLock::new(|| {
                EventType::ALL
                    .iter()
                    .map(|t| {
                        apache_avro::schema::ResolvedSchema::new(t.schema())
                            .unwrap_or_else(|e| panic!("{} does not resolve: {e}", t.full_name()))
                    })
                    .collect()
            });
        &RESOLVED[self.index()]
    }

    fn index(self) -> usize {
        EventType::ALL
            .iter()
            .position(|t| *t == self)
            .expect("every EventType is in ALL")
    }

    /// The newest schema as `.avsc` text, as it is registered.
    pub fn schema_json(self) -> &'static str {
        self.history()
            .last()
            .expect("every event type has a schema")
    }

    /// The version of the newest schema: versions count from 1 in the order of
    /// [`EventType::history`], which only ever grows at its end.
    pub fn newest_version(self) -> u32 {
        self.history().len() as u32
    }

    /// The `.avsc` text of `version`, if this build knows it.
    pub fn schema_json_of(self, version: u32) -> Option<&'static str> {
        let index = usize::try_from(version).ok()?.checked_sub(1)?;
        self.history().get(index).copied()
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.full_name())
    }
}
