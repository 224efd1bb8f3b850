//! Validation of a new order: the rules of `POST /orders`, each failure naming its field.

use platform::http::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The request body as sent: any JSON object. Its members are checked one by one, so that a
/// missing, unknown or wrongly typed one is reported like any other invalid field (422 with
/// its name and our message) rather than as a parse failure that names no field. (A struct
/// deserialized by serde would also accept a JSON array, member by position.)
pub type NewOrderRequest = serde_json::Map<String, Value>;

/// A valid order; its JSON form is also the normalized request used for idempotency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewOrder {
    pub customer_id: String,
    pub currency: String,
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub sku: String,
    pub quantity: i32,
    pub unit_price_cents: i64,
}

impl NewOrder {
    pub fn total_cents(&self) -> i64 {
        // Bounded by the limits below: 100 items * 1000 * 1e8 fits in i64.
        self.items
            .iter()
            .map(|i| i64::from(i.quantity) * i.unit_price_cents)
            .sum()
    }
}

const MAX_ITEMS: usize = 100;
const ORDER_FIELDS: [&str; 3] = ["customer_id", "currency", "items"];
const ITEM_FIELDS: [&str; 3] = ["sku", "quantity", "unit_price_cents"];
const IDENTIFIER_RULE: &str = "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'";

fn valid_identifier(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A required string member: "is required" when absent, null or empty; `rule` when of another
/// type or not `valid`.
fn required_string(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<Value>,
    rule: &str,
    valid: fn(&str) -> bool,
) -> String {
    match value {
        None | Some(Value::Null) => errors.push(FieldError::new(field, "is required")),
        Some(Value::String(s)) if s.is_empty() => {
            errors.push(FieldError::new(field, "is required"))
        }
        Some(Value::String(s)) if valid(&s) => return s,
        Some(_) => errors.push(FieldError::new(field, rule)),
    }
    String::new()
}

fn valid_currency(value: &str) -> bool {
    value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase())
}

/// A member that must be an integer in `range`.
fn integer_in(value: Option<&Value>, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
    value.and_then(Value::as_i64).filter(|n| range.contains(n))
}

impl TryFrom<NewOrderRequest> for NewOrder {
    type Error = Vec<FieldError>;

    fn try_from(mut request: NewOrderRequest) -> Result<Self, Self::Error> {
        let mut errors = Vec::new();
        for unknown in request
            .keys()
            .filter(|k| !ORDER_FIELDS.contains(&k.as_str()))
        {
            errors.push(FieldError::new(unknown, "is not a field of an order"));
        }
        let customer_id = required_string(
            &mut errors,
            "customer_id",
            request.remove("customer_id"),
            IDENTIFIER_RULE,
            valid_identifier,
        );
        let currency = required_string(
            &mut errors,
            "currency",
            request.remove("currency"),
            "must be 3 uppercase letters (ISO 4217)",
            valid_currency,
        );
        let items_rule = format!("must hold 1 to {MAX_ITEMS} items");
        let requested = match request.remove("items") {
            None | Some(Value::Null) => {
                errors.push(FieldError::new("items", items_rule));
                Vec::new()
            }
            Some(Value::Array(items)) => {
                if items.is_empty() || items.len() > MAX_ITEMS {
                    errors.push(FieldError::new("items", items_rule));
                }
                items
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "items",
                    format!("must be an array of 1 to {MAX_ITEMS} items"),
                ));
                Vec::new()
            }
        };
        let mut items = Vec::with_capacity(requested.len());
        for (i, item) in requested.into_iter().enumerate() {
            let field = |name: &str| format!("items[{i}].{name}");
            let Value::Object(item) = item else {
                errors.push(FieldError::new(
                    format!("items[{i}]"),
                    "must be an object with sku, quantity and unit_price_cents",
                ));
                continue;
            };
            for unknown in item.keys().filter(|k| !ITEM_FIELDS.contains(&k.as_str())) {
                errors.push(FieldError::new(field(unknown), "is not a field of an item"));
            }
            let sku = match item.get("sku") {
                Some(Value::String(sku)) if valid_identifier(sku) => sku.clone(),
                _ => {
                    errors.push(FieldError::new(field("sku"), IDENTIFIER_RULE));
                    String::new()
                }
            };
            let quantity = integer_in(item.get("quantity"), 1..=1000).unwrap_or_else(|| {
                errors.push(FieldError::new(
                    field("quantity"),
                    "must be an integer from 1 to 1000",
                ));
                0
            });
            let price =
                integer_in(item.get("unit_price_cents"), 0..=100_000_000).unwrap_or_else(|| {
                    errors.push(FieldError::new(
                        field("unit_price_cents"),
                        "must be an integer from 0 to 100000000",
                    ));
                    0
                });
            items.push(Item {
                sku,
                // In 1..=1000 when valid (checked above).
                quantity: quantity as i32,
                unit_price_cents: price,
            });
        }
        if errors.is_empty() {
            Ok(NewOrder {
                customer_id,
                currency,
                items,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> NewOrderRequest {
        serde_json::from_value(json).unwrap()
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
        let errors = NewOrder::try_from(request(serde_json::json!({
            "customer_id": "bad id!", "currency": "eur",
            "items": [{"sku": "", "quantity": 0, "unit_price_cents": -1}]
        })))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
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
        let errors = NewOrder::try_from(request(serde_json::json!({}))).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["customer_id", "currency", "items"]);
    }

    #[test]
    fn wrongly_typed_fields_are_named_like_invalid_ones() {
        let errors = NewOrder::try_from(request(serde_json::json!({
            "customer_id": 7, "currency": ["EUR"],
            "items": [3, {"sku": 5, "quantity": "two", "unit_price_cents": 1.5, "colour": "red"}]
        })))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
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
        let errors = NewOrder::try_from(request(serde_json::json!({
            "customer_id": "c", "currency": "EUR", "items": {"sku": "a"}
        })))
        .unwrap_err();
        assert_eq!(errors[0].field, "items");
    }

    #[test]
    fn unknown_members_are_named() {
        let errors = NewOrder::try_from(request(serde_json::json!({
            "customer_id": "c", "currency": "EUR", "coupon": "X",
            "items": [{"sku": "a", "quantity": 1, "unit_price_cents": 1}]
        })))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["coupon"]);
    }

    #[test]
    fn a_body_that_is_no_object_is_refused() {
        assert!(serde_json::from_str::<NewOrderRequest>(r#"["c", "EUR", []]"#).is_err());
    }
}
