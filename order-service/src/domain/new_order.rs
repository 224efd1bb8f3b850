//! Validation of a new order: the rules of `POST /orders`, each failure naming its field.
//!
//! The body deserializes into [`NewOrderRequest`], whose members are [`Field`]s of newtypes
//! that check their own rule ([`CustomerId`], [`Currency`], [`Sku`], [`Quantity`],
//! [`UnitPriceCents`]); [`NewOrder::try_from`] then collects every broken rule, so a client
//! learns all of them from one 422. The OpenAPI schema derives from the same types.

use platform::http::{
    validate::{checked, integer_schema, string_schema, Closed, Errors, Field},
    FieldError,
};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{openapi::schema::Schema, openapi::RefOr, PartialSchema, ToSchema};

const MAX_ITEMS: usize = 100;
const IDENTIFIER_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";
const IDENTIFIER_RULE: &str = "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'";

fn is_identifier(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A newtype over `$inner` that deserializes only where `$valid` holds for the value (else the
/// error `$rule`), described in the OpenAPI document by `$schema`.
macro_rules! validated {
    ($(#[$doc:meta])* $name:ident($inner:ty), $rule:expr, $valid:expr, $schema:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name($inner);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let valid: fn(&$inner) -> bool = $valid;
                checked(d, $rule, |v: $inner| valid(&v).then_some($name(v)))
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl ToSchema for $name {}
    };
}

validated!(
    /// Who placed the order: 1-64 characters of `A-Za-z0-9._-`.
    CustomerId(String),
    IDENTIFIER_RULE,
    |s| is_identifier(s),
    string_schema(IDENTIFIER_PATTERN, "The customer's id")
);

validated!(
    /// An ISO 4217 currency code: 3 uppercase letters.
    Currency(String),
    "must be 3 uppercase letters (ISO 4217)",
    |s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()),
    string_schema("^[A-Z]{3}$", "ISO 4217 currency code")
);

validated!(
    /// A stock keeping unit: 1-64 characters of `A-Za-z0-9._-`.
    Sku(String),
    IDENTIFIER_RULE,
    |s| is_identifier(s),
    string_schema(IDENTIFIER_PATTERN, "The item's stock keeping unit")
);

validated!(
    /// How many of an item: 1 to 1000.
    Quantity(i32),
    "must be an integer from 1 to 1000",
    |n| (1..=1000).contains(n),
    integer_schema(1, 1000, "How many")
);

validated!(
    /// An item's price in cents: 0 to 100,000,000.
    UnitPriceCents(i64),
    "must be an integer from 0 to 100000000",
    |n| (0..=100_000_000).contains(n),
    integer_schema(0, 100_000_000, "Price of one, in cents")
);

impl CustomerId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Currency {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Sku {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Copy for Quantity {}

impl Quantity {
    pub fn get(self) -> i32 {
        self.0
    }
}

impl Copy for UnitPriceCents {}

impl UnitPriceCents {
    pub fn get(self) -> i64 {
        self.0
    }
}

/// The body of `POST /orders` as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderRequest {
    #[serde(default)]
    #[schema(value_type = CustomerId, required = true)]
    customer_id: Field<CustomerId>,
    #[serde(default)]
    #[schema(value_type = Currency, required = true)]
    currency: Field<Currency>,
    #[serde(default)]
    #[schema(value_type = Vec<ItemRequest>, required = true, min_items = 1, max_items = 100)]
    items: Field<Vec<Field<Closed<ItemRequest>>>>,
}

/// One item of a new order as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    #[serde(default)]
    #[schema(value_type = Sku, required = true)]
    sku: Field<Sku>,
    #[serde(default)]
    #[schema(value_type = Quantity, required = true)]
    quantity: Field<Quantity>,
    #[serde(default)]
    #[schema(value_type = UnitPriceCents, required = true)]
    unit_price_cents: Field<UnitPriceCents>,
}

/// A valid order; its JSON form is also the normalized request used for idempotency.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NewOrder {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub items: Vec<Item>,
}

/// An item of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Item {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price_cents: UnitPriceCents,
}

impl NewOrder {
    pub fn total_cents(&self) -> i64 {
        // Bounded by the newtypes' rules: 100 items * 1000 * 1e8 fits in i64.
        self.items
            .iter()
            .map(|i| i64::from(i.quantity.get()) * i.unit_price_cents.get())
            .sum()
    }
}

impl TryFrom<Closed<NewOrderRequest>> for NewOrder {
    type Error = Vec<FieldError>;

    fn try_from(request: Closed<NewOrderRequest>) -> Result<Self, Self::Error> {
        let mut errors = Errors::default();
        errors.unknown("", &request.unknown, "is not a field of an order");
        let request = request.value;
        let customer_id = errors.required("customer_id", request.customer_id);
        let currency = errors.required("currency", request.currency);
        let items_rule = format!("must hold 1 to {MAX_ITEMS} items");
        let requested = match request.items {
            Field::Valid(items) => {
                if items.is_empty() || items.len() > MAX_ITEMS {
                    errors.push("items", items_rule);
                }
                items
            }
            Field::Absent => {
                errors.push("items", items_rule);
                Vec::new()
            }
            Field::Invalid(_) => {
                errors.push(
                    "items",
                    format!("must be an array of 1 to {MAX_ITEMS} items"),
                );
                Vec::new()
            }
        };
        let mut items = Vec::with_capacity(requested.len());
        for (i, item) in requested.into_iter().enumerate() {
            let Field::Valid(item) = item else {
                errors.push(
                    format!("items[{i}]"),
                    "must be an object with sku, quantity and unit_price_cents",
                );
                continue;
            };
            let field = |name: &str| format!("items[{i}].{name}");
            errors.unknown(&field(""), &item.unknown, "is not a field of an item");
            let sku = errors.required(&field("sku"), item.value.sku);
            let quantity = errors.required(&field("quantity"), item.value.quantity);
            let price = errors.required(&field("unit_price_cents"), item.value.unit_price_cents);
            if let (Some(sku), Some(quantity), Some(unit_price_cents)) = (sku, quantity, price) {
                items.push(Item {
                    sku,
                    quantity,
                    unit_price_cents,
                });
            }
        }
        errors.finish(|| {
            Some(NewOrder {
                customer_id: customer_id?,
                currency: currency?,
                items,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> Closed<NewOrderRequest> {
        serde_json::from_value(json).unwrap()
    }

    /// The fields a refused request names, in the order the errors list them.
    fn refused_fields(json: serde_json::Value) -> Vec<String> {
        let errors = NewOrder::try_from(request(json)).unwrap_err();
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_valid_order_passes_and_totals() {
        let order = NewOrder::try_from(request(serde_json::json!({
            "customer_id": "c-1", "currency": "EUR",
            "items": [{"sku": "a", "quantity": 2, "unit_price_cents": 150},
                      {"sku": "b", "quantity": 1, "unit_price_cents": 0}]
        })))
        .unwrap();
        assert_eq!(order.total_cents(), 300);
    }

    #[test]
    fn every_invalid_field_is_named() {
        let fields = refused_fields(serde_json::json!({
            "customer_id": "bad id!", "currency": "eur",
            "items": [{"sku": "", "quantity": 0, "unit_price_cents": -1}]
        }));
        assert_eq!(
            fields,
            [
                "customer_id",
                "currency",
                "items[0].sku",
                "items[0].quantity",
                "items[0].unit_price_cents"
            ]
        );
    }

    #[test]
    fn missing_fields_and_empty_items_are_reported() {
        let fields = refused_fields(serde_json::json!({}));
        assert_eq!(fields, ["customer_id", "currency", "items"]);
    }

    #[test]
    fn wrongly_typed_fields_are_named_like_invalid_ones() {
        let fields = refused_fields(serde_json::json!({
            "customer_id": 7, "currency": ["EUR"],
            "items": [3, {"sku": 5, "quantity": "two", "unit_price_cents": 1.5, "colour": "red"}]
        }));
        assert_eq!(
            fields,
            [
                "customer_id",
                "currency",
                "items[0]",
                "items[1].colour",
                "items[1].sku",
                "items[1].quantity",
                "items[1].unit_price_cents"
            ]
        );
        let fields = refused_fields(serde_json::json!({
            "customer_id": "c", "currency": "EUR", "items": {"sku": "a"}
        }));
        assert_eq!(fields[0], "items");
    }

    #[test]
    fn unknown_members_are_named() {
        let fields = refused_fields(serde_json::json!({
            "customer_id": "c", "currency": "EUR", "coupon": "X",
            "items": [{"sku": "a", "quantity": 1, "unit_price_cents": 1}]
        }));
        assert_eq!(fields, ["coupon"]);
    }

    #[test]
    fn a_body_that_is_no_object_is_refused() {
        assert!(serde_json::from_str::<Closed<NewOrderRequest>>(r#"["c", "EUR", []]"#).is_err());
    }
}
