//! Stream records as Lambda hands them to the function: DynamoDB JSON.

use crate::encoding::base64_encode;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// A stream record as Lambda shapes it for the function (and for filtering).
pub(super) fn record_json(r: &Record, stream_arn: &str, region: &str) -> Value {
    let mut ddb = Map::new();
    if let Some(d) = r.dynamodb() {
        if let Some(t) = d.approximate_creation_date_time() {
            ddb.insert("ApproximateCreationDateTime".into(), json!(t.secs()));
        }
        for (name, image) in [
            ("Keys", d.keys()),
            ("NewImage", d.new_image()),
            ("OldImage", d.old_image()),
        ] {
            if let Some(m) = image {
                ddb.insert(name.into(), map_json(m));
            }
        }
        if let Some(s) = d.sequence_number() {
            ddb.insert("SequenceNumber".into(), json!(s));
        }
        if let Some(s) = d.size_bytes() {
            ddb.insert("SizeBytes".into(), json!(s));
        }
        if let Some(v) = d.stream_view_type() {
            ddb.insert("StreamViewType".into(), json!(v.as_str()));
        }
    }
    json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|n| n.as_str()),
        "eventVersion": r.event_version().unwrap_or("1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": r.aws_region().unwrap_or(region),
        "dynamodb": ddb,
        "eventSourceARN": stream_arn,
    })
}

pub(super) fn map_json(m: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), attr_json(v))).collect())
}

/// DynamoDB JSON of an attribute value (`{"S": "x"}`, `{"N": "1"}`, ...).
pub(super) fn attr_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::B(b) => json!({"B": base64_encode(b.as_ref())}),
        AttributeValue::Ss(s) => json!({"SS": s}),
        AttributeValue::Ns(s) => json!({"NS": s}),
        AttributeValue::Bs(s) => {
            json!({"BS": s.iter().map(|b| base64_encode(b.as_ref())).collect::<Vec<_>>()})
        }
        AttributeValue::M(m) => json!({"M": map_json(m)}),
        AttributeValue::L(l) => json!({"L": l.iter().map(attr_json).collect::<Vec<_>>()}),
        AttributeValue::Null(b) => json!({"NULL": b}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        _ => json!({}),
    }
}
