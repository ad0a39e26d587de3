use super::batch::{batch_info, first_failure};
use super::records::{attr_json, map_json};
use super::*;
use aws_sdk_dynamodbstreams::types::AttributeValue;
use serde_json::json;
use std::collections::HashMap;

fn rec(seq: &str) -> Rec {
    Rec {
        seq: seq.to_owned(),
        json: json!({}),
    }
}

#[test]
fn binary_attributes_are_standard_base64_with_padding() {
    for (bytes, encoded) in [
        (&b""[..], ""),
        (b"f", "Zg=="),
        (b"fo", "Zm8="),
        (b"foo", "Zm9v"),
        (b"foobar", "Zm9vYmFy"),
    ] {
        let blob = aws_sdk_dynamodbstreams::primitives::Blob::new(bytes);
        assert_eq!(
            attr_json(&AttributeValue::B(blob.clone())),
            json!({"B": encoded})
        );
        assert_eq!(
            attr_json(&AttributeValue::Bs(vec![blob])),
            json!({"BS": [encoded]})
        );
    }
}

#[test]
fn first_failure_picks_the_lowest_sequence_number() {
    let recs = [rec("1"), rec("2"), rec("3")];
    let resp = json!({"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "2"}]});
    assert_eq!(first_failure(&resp, &recs), Ok(Some(1)));
    assert_eq!(first_failure(&json!({}), &recs), Ok(None));
    assert_eq!(
        first_failure(&json!({"batchItemFailures": []}), &recs),
        Ok(None)
    );
    assert!(
        first_failure(
            &json!({"batchItemFailures": [{"itemIdentifier": "9"}]}),
            &recs
        )
        .is_err()
    );
    assert!(first_failure(&json!({"batchItemFailures": [{}]}), &recs).is_err());
}

#[test]
fn attribute_values_become_dynamodb_json() {
    let m = HashMap::from([(
        "a".to_owned(),
        AttributeValue::L(vec![
            AttributeValue::S("x".into()),
            AttributeValue::N("1".into()),
            AttributeValue::Bool(true),
            AttributeValue::Null(true),
            AttributeValue::M(HashMap::from([(
                "k".to_owned(),
                AttributeValue::Ss(vec!["s".into()]),
            )])),
        ]),
    )]);
    assert_eq!(
        map_json(&m),
        json!({"a": {"L": [{"S": "x"}, {"N": "1"}, {"BOOL": true}, {"NULL": true}, {"M": {"k": {"SS": ["s"]}}}]}})
    );
}

#[test]
fn batch_info_names_the_batch_range() {
    let recs = [rec("10"), rec("20")];
    let v = batch_info(
        "arn:f",
        "shard-1",
        "arn:s",
        &recs,
        3,
        "RetryAttemptsExhausted",
    );
    assert_eq!(v["DDBStreamBatchInfo"]["startSequenceNumber"], "10");
    assert_eq!(v["DDBStreamBatchInfo"]["endSequenceNumber"], "20");
    assert_eq!(v["DDBStreamBatchInfo"]["batchSize"], 2);
    assert_eq!(v["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(v["requestContext"]["condition"], "RetryAttemptsExhausted");
}
