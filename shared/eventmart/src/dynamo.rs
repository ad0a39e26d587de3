//! DynamoDB items as JSON and back, for the adapters that store serde types whole.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use std::collections::HashMap;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute.
pub fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A JSON value as an attribute: objects become maps, arrays lists, numbers `N`.
pub fn to_attr(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attr).collect()),
        Value::Object(o) => {
            AttributeValue::M(o.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect())
        }
    }
}

/// A serializable value as an item (empty when it is not an object).
pub fn to_item<T: serde::Serialize>(value: &T) -> Item {
    match serde_json::to_value(value).map(|v| to_attr(&v)) {
        Ok(AttributeValue::M(m)) => m,
        _ => HashMap::new(),
    }
}

/// An item as a JSON object; `None` when an attribute has no JSON form (sets, binary)
/// or a number does not parse.
pub fn from_item(item: &Item) -> Option<Value> {
    item.iter()
        .map(|(k, v)| Some((k.clone(), from_attr(v)?)))
        .collect::<Option<serde_json::Map<_, _>>>()
        .map(Value::Object)
}

/// An attribute as JSON (see [`from_item`]).
pub fn from_attr(a: &AttributeValue) -> Option<Value> {
    Some(match a {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => Value::Number(n.parse().ok()?),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect::<Option<_>>()?),
        AttributeValue::M(m) => from_item(m)?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip() {
        let v =
            serde_json::json!({"a": "x", "n": 9007199254740991u64, "l": [{"b": true}], "z": null});
        let AttributeValue::M(m) = to_attr(&v) else {
            panic!("an object maps to M")
        };
        assert_eq!(from_item(&m), Some(v));
    }

    #[test]
    fn attributes_without_json_form_are_none() {
        let item = Item::from([("set".to_owned(), AttributeValue::Ss(vec!["a".into()]))]);
        assert_eq!(from_item(&item), None);
        assert_eq!(from_attr(&n("not a number")), None);
    }
}
