//! Validation of a new order: the rules of `POST /orders`, each failure naming its field.

use platform::http::FieldError;
use serde::{Deserialize, Serialize};

/// The request body as sent. Every field is optional here so that a missing one is reported
/// like any other invalid field (422 with its name) rather than as a parse failure.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrderRequest {
    pub customer_id: Option<String>,
    pub currency: Option<String>,
    pub items: Option<Vec<NewItemRequest>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewItemRequest {
    pub sku: Option<String>,
    pub quantity: Option<i64>,
    pub unit_price_cents: Option<i64>,
}

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

fn valid_identifier(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl TryFrom<NewOrderRequest> for NewOrder {
    type Error = Vec<FieldError>;

    fn try_from(request: NewOrderRequest) -> Result<Self, Self::Error> {
        let mut errors = Vec::new();
        fn require(errors: &mut Vec<FieldError>, field: &str, present: bool) -> bool {
            if !present {
                errors.push(FieldError::new(field, "is required"));
            }
            present
        }
        let customer_id = request.customer_id.unwrap_or_default();
        if require(&mut errors, "customer_id", !customer_id.is_empty())
            && !valid_identifier(&customer_id)
        {
            errors.push(FieldError::new(
                "customer_id",
                "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
            ));
        }
        let currency = request.currency.unwrap_or_default();
        if require(&mut errors, "currency", !currency.is_empty())
            && !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()))
        {
            errors.push(FieldError::new(
                "currency",
                "must be 3 uppercase letters (ISO 4217)",
            ));
        }
        let requested = request.items.unwrap_or_default();
        if requested.is_empty() || requested.len() > MAX_ITEMS {
            errors.push(FieldError::new(
                "items",
                format!("must hold 1 to {MAX_ITEMS} items"),
            ));
        }
        let mut items = Vec::with_capacity(requested.len());
        for (i, item) in requested.into_iter().enumerate() {
            let field = |name: &str| format!("items[{i}].{name}");
            let sku = item.sku.unwrap_or_default();
            if !valid_identifier(&sku) {
                errors.push(FieldError::new(
                    field("sku"),
                    "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
                ));
            }
            let quantity = item.quantity.unwrap_or(0);
            if !(1..=1000).contains(&quantity) {
                errors.push(FieldError::new(field("quantity"), "must be 1 to 1000"));
            }
            let price = item.unit_price_cents.unwrap_or(-1);
            if !(0..=100_000_000).contains(&price) {
                errors.push(FieldError::new(
                    field("unit_price_cents"),
                    "must be 0 to 100000000",
                ));
            }
            items.push(Item {
                sku,
                quantity: quantity.clamp(0, 1000) as i32,
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
}
