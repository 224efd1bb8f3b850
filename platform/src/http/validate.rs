//! Request validation by deserialization, every invalid field named.
//!
//! serde stops at the first error, and its messages name no field a client could act on. So a
//! request type deserializes each member into a [`Field`], which never fails: it holds the
//! member's typed value (a newtype whose `Deserialize` checks the rule, e.g. a `Currency`), or
//! the rule it broke, or its absence. Objects are read through [`Closed`], which sets unknown
//! members aside by name instead of failing. The request's `TryFrom` into the domain type then
//! walks the fields with [`Errors`] and answers all the broken rules at once (the 422
//! problem's `errors`).
//!
//! The request types still derive their OpenAPI schema from the same declaration: members and
//! their newtypes' schemas, `#[serde(deny_unknown_fields)]` as `additionalProperties: false`.

use super::FieldError;
use serde::{
    de::{self, DeserializeOwned, Error as _},
    Deserialize, Deserializer,
};
use serde_json::{Map, Value};
use std::fmt;

/// One member of a request as received.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Field<T> {
    /// Not sent, or `null`.
    #[default]
    Absent,
    /// Sent and valid.
    Valid(T),
    /// Sent, and this is the rule it broke.
    Invalid(String),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        if value.is_null() {
            return Ok(Field::Absent);
        }
        Ok(match T::deserialize(value) {
            Ok(valid) => Field::Valid(valid),
            Err(e) => Field::Invalid(e.to_string()),
        })
    }
}

/// A JSON object read as `T` (a struct with `#[serde(deny_unknown_fields)]`, for its schema),
/// its unknown members set aside in `unknown` rather than failing the whole object.
#[derive(Clone, Debug, PartialEq)]
pub struct Closed<T> {
    pub value: T,
    pub unknown: Vec<String>,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Closed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut object = Map::<String, Value>::deserialize(deserializer)?;
        let known = member_names::<T>();
        let unknown: Vec<String> = object
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        for name in &unknown {
            object.remove(name);
        }
        let value = T::deserialize(Value::Object(object)).map_err(D::Error::custom)?;
        Ok(Closed { value, unknown })
    }
}

impl<T: utoipa::PartialSchema> utoipa::PartialSchema for Closed<T> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        T::schema()
    }
}

impl<T: utoipa::ToSchema> utoipa::ToSchema for Closed<T> {
    fn name() -> std::borrow::Cow<'static, str> {
        T::name()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        T::schemas(schemas)
    }
}

/// The member names of a derived struct: serde's derive hands them to `deserialize_struct`,
/// which this deserializer answers with them instead of a value.
fn member_names<T: DeserializeOwned>() -> &'static [&'static str] {
    #[derive(Debug)]
    enum Probe {
        Members(&'static [&'static str]),
        NotAStruct,
    }
    impl fmt::Display for Probe {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("member names probe")
        }
    }
    impl std::error::Error for Probe {}
    impl de::Error for Probe {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Probe::NotAStruct
        }
    }
    struct Prober;
    impl<'de> Deserializer<'de> for Prober {
        type Error = Probe;
        fn deserialize_any<V: de::Visitor<'de>>(self, _: V) -> Result<V::Value, Probe> {
            Err(Probe::NotAStruct)
        }
        fn deserialize_struct<V: de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Probe> {
            Err(Probe::Members(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    match T::deserialize(Prober) {
        Err(Probe::Members(fields)) => fields,
        _ => &[],
    }
}

/// Deserializes a `T` and keeps it if `check` accepts it; anything else (another JSON type,
/// a value `check` refuses) is an error saying `rule`.
pub fn checked<'de, D, T, U>(
    deserializer: D,
    rule: &str,
    check: impl FnOnce(T) -> Option<U>,
) -> Result<U, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer)
        .ok()
        .and_then(check)
        .ok_or_else(|| D::Error::custom(rule))
}

/// The schema of a string newtype: `pattern` (anchored) is its whole rule.
pub fn string_schema(
    pattern: &str,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

/// The schema of an integer newtype in `min..=max`.
pub fn integer_schema(
    min: i64,
    max: i64,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Integer)
        .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
            utoipa::openapi::KnownFormat::Int64,
        )))
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
        .into()
}

/// A UUID in its hyphenated form, as OpenAPI's `format: uuid` promises it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Id(pub uuid::Uuid);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        checked(deserializer, "must be a UUID", |s: String| {
            super::uuid_text(&s).map(Id)
        })
    }
}

impl utoipa::PartialSchema for Id {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Uuid,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Id {}

/// The query of `GET /payments?order_id=` and `GET /shipments?order_id=`: what belongs to one
/// order.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// The order's id.
    #[serde(default)]
    #[param(value_type = uuid::Uuid, required)]
    order_id: Field<Id>,
}

impl OrderQuery {
    /// The order id, or a 422 naming `order_id`.
    pub fn order_id(self) -> Result<uuid::Uuid, super::Problem> {
        let mut errors = Errors::default();
        let id = errors.required("order_id", self.order_id);
        errors
            .finish(|| id)
            .map(|id| id.0)
            .map_err(super::Problem::validation)
    }
}

/// The broken rules of one request, in the order its fields were looked at.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Each unknown member of an object, named under `prefix` (e.g. `items[0].`).
    pub fn unknown(&mut self, prefix: &str, unknown: &[String], message: &str) {
        for name in unknown {
            self.push(format!("{prefix}{name}"), message);
        }
    }

    /// A member that must be sent: its value, or `None` with the error recorded.
    pub fn required<T>(&mut self, name: &str, field: Field<T>) -> Option<T> {
        match field {
            Field::Valid(value) => Some(value),
            Field::Absent => {
                self.push(name, "is required");
                None
            }
            Field::Invalid(rule) => {
                self.push(name, rule);
                None
            }
        }
    }

    /// A member that may be left out: `Some(None)` when absent, `None` when invalid.
    pub fn optional<T>(&mut self, name: &str, field: Field<T>) -> Option<Option<T>> {
        match field {
            Field::Absent => Some(None),
            other => self.required(name, other).map(Some),
        }
    }

    /// The request's value when no rule was broken, else every broken rule.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, Vec<FieldError>> {
        match value() {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        #[serde(default)]
        name: Field<String>,
        #[serde(default)]
        count: Field<u8>,
    }

    #[test]
    fn every_member_is_kept_valid_invalid_or_absent_and_unknown_ones_set_aside() {
        let closed: Closed<Request> =
            serde_json::from_value(serde_json::json!({"count": 300, "x": 1, "y": 2})).unwrap();
        assert_eq!(closed.unknown, ["x", "y"]);
        assert_eq!(closed.value.name, Field::Absent);
        assert!(matches!(closed.value.count, Field::Invalid(_)));
        let mut errors = Errors::default();
        errors.unknown("", &closed.unknown, "is unknown");
        let name = errors.required("name", closed.value.name);
        let count = errors.optional("count", closed.value.count);
        let fields: Vec<_> = errors
            .finish(|| Some((name?, count?)))
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["x", "y", "name", "count"]);
    }

    #[test]
    fn an_array_is_no_object() {
        assert!(serde_json::from_str::<Closed<Request>>(r#"["a", 1]"#).is_err());
    }
}
