//! Unit tests of the relay over an in-memory bus.

use crate::memory::InMemoryBus;
use crate::{App, Backoff, MAX_BATCH_BYTES, OutboxEntry, PublishError, Publisher, RelayError};
use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use serde_json::{Value, json};
use std::time::Duration;

fn fast<P: Publisher>(p: P) -> App<P> {
    App::new(p).with_backoff(Backoff {
        attempts: 4,
        base: Duration::from_millis(1),
    })
}

fn outbox_record(seq: u32, event_id: &str, detail: &str) -> Value {
    json!({
        "eventID": format!("r{seq}"),
        "eventName": "INSERT",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": {"S": format!("OUTBOX#{event_id}")}},
            "NewImage": {
                "pk": {"S": format!("OUTBOX#{event_id}")},
                "kind": {"S": "outbox"},
                "source": {"S": "eventmart.orders"},
                "detailType": {"S": "OrderPlaced"},
                "detail": {"S": detail},
                "eventId": {"S": event_id},
                "correlationId": {"S": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"},
                "expiresAt": {"N": "1795774530"}
            },
            "SequenceNumber": format!("{seq:021}"),
            "SizeBytes": 100,
            "StreamViewType": "NEW_IMAGE"
        }
    })
}

fn stream(records: Vec<Value>) -> StreamEvent {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn numbered(n: u32, detail_len: usize) -> StreamEvent {
    let detail = format!("{{\"pad\":\"{}\"}}", "x".repeat(detail_len));
    stream(
        (1..=n)
            .map(|i| outbox_record(i, &format!("e{i}"), &detail))
            .collect(),
    )
}

fn failures(r: &DynamoDbEventResponse) -> Vec<String> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn twenty_five_records_take_three_requests_in_order() {
    let relay = fast(InMemoryBus::new(|_, _| false));
    let out = relay.on_stream(&numbered(25, 10)).await.unwrap();
    assert!(failures(&out).is_empty());
    let requests = relay.publisher.requests();
    let sizes: Vec<usize> = requests.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
    let order: Vec<String> = requests.concat();
    let expected: Vec<String> = (1..=25).map(|i| format!("e{i}")).collect();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn big_details_split_batches_under_256_kb() {
    let relay = fast(InMemoryBus::new(|_, _| false));
    // Each entry is about 60 KB: four fit in 256 KB, five do not.
    let out = relay.on_stream(&numbered(10, 60_000)).await.unwrap();
    assert!(failures(&out).is_empty());
    let sizes: Vec<usize> = relay.publisher.requests().iter().map(Vec::len).collect();
    assert_eq!(sizes, [4, 4, 2]);
}

#[tokio::test]
async fn entries_that_fail_once_are_resent_alone_and_succeed() {
    let relay = fast(InMemoryBus::new(|id, seen| {
        seen == 0 && (id == "e2" || id == "e5")
    }));
    let out = relay.on_stream(&numbered(6, 10)).await.unwrap();
    assert!(failures(&out).is_empty());
    assert_eq!(
        relay.publisher.requests(),
        [vec!["e1", "e2", "e3", "e4", "e5", "e6"], vec!["e2", "e5"]]
    );
}

#[tokio::test]
async fn an_entry_that_always_fails_is_the_only_failure_reported() {
    let relay = fast(InMemoryBus::new(|id, _| id == "e3"));
    let out = relay.on_stream(&numbered(5, 10)).await.unwrap();
    assert_eq!(failures(&out), [format!("{:021}", 3)]);
    let requests = relay.publisher.requests();
    assert_eq!(requests.len(), 4, "bounded attempts: {requests:?}");
    assert!(requests[1..].iter().all(|r| r == &["e3"]));
}

#[tokio::test]
async fn a_transient_request_error_resends_the_whole_batch() {
    let bus = InMemoryBus::new(|_, _| false);
    *bus.request_error.lock().unwrap() = Some(PublishError::Unavailable("throttled".into()));
    let relay = fast(bus);
    let out = relay.on_stream(&numbered(3, 10)).await.unwrap();
    assert!(failures(&out).is_empty());
    assert_eq!(
        relay.publisher.requests(),
        [vec!["e1", "e2", "e3"], vec!["e1", "e2", "e3"]]
    );
}

#[tokio::test]
async fn a_rejected_request_is_reported_without_resending() {
    let bus = InMemoryBus::new(|_, _| false);
    *bus.request_error.lock().unwrap() =
        Some(PublishError::Rejected("AccessDeniedException".into()));
    let relay = fast(bus);
    let out = relay.on_stream(&numbered(2, 10)).await.unwrap();
    assert_eq!(failures(&out), [format!("{:021}", 1), format!("{:021}", 2)]);
    assert_eq!(relay.publisher.requests().len(), 1);
}

#[tokio::test]
async fn malformed_outbox_items_are_reported_and_others_skipped() {
    let mut broken = outbox_record(2, "e2", "{}");
    broken["dynamodb"]["NewImage"]
        .as_object_mut()
        .unwrap()
        .remove("detailType");
    let mut modify = outbox_record(3, "e3", "{}");
    modify["eventName"] = json!("MODIFY");
    let mut not_outbox = outbox_record(4, "e4", "{}");
    not_outbox["dynamodb"]["NewImage"]["kind"] = json!({"S": "shipment"});
    let too_big = outbox_record(5, "e5", &"x".repeat(MAX_BATCH_BYTES));
    let records = vec![
        outbox_record(1, "e1", "{}"),
        broken,
        modify,
        not_outbox,
        too_big,
    ];
    let relay = fast(InMemoryBus::new(|_, _| false));
    let out = relay.on_stream(&stream(records)).await.unwrap();
    assert_eq!(failures(&out), [format!("{:021}", 2), format!("{:021}", 5)]);
    assert_eq!(relay.publisher.requests(), [vec!["e1"]]);
}

#[tokio::test]
async fn an_outbox_record_without_a_sequence_number_fails_the_invocation() {
    let mut r = outbox_record(1, "e1", "{}");
    r["dynamodb"]
        .as_object_mut()
        .unwrap()
        .remove("SequenceNumber");
    let relay = fast(InMemoryBus::new(|_, _| false));
    let err = relay.on_stream(&stream(vec![r])).await.unwrap_err();
    assert_eq!(
        err,
        RelayError::NoSequenceNumber {
            event_id: "e1".into()
        }
    );
    assert!(relay.publisher.requests().is_empty());
}

#[test]
fn entry_size_is_source_detail_type_and_detail_bytes() {
    let e = OutboxEntry {
        sequence_number: "1".into(),
        event_id: "e".into(),
        correlation_id: "c".into(),
        source: "eventmart.orders".into(),
        detail_type: "OrderPlaced".into(),
        detail: "{\"é\":1}".into(),
    };
    // `é` is two bytes in UTF-8.
    assert_eq!(e.size(), 16 + 11 + 8);
}

#[tokio::test]
async fn the_sample_stream_batch_publishes_its_two_outbox_items() {
    let path = format!(
        "{}/../../events/outbox-relay/stream-batch.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let event: StreamEvent = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(event.records.len(), 3);
    let relay = fast(InMemoryBus::new(|_, _| false));
    let out = relay.on_stream(&event).await.unwrap();
    assert!(failures(&out).is_empty());
    assert_eq!(
        relay.publisher.requests(),
        [vec![
            "0193b3a4-aaaa-7000-8000-000000000005",
            "0193b3a4-aaaa-7000-8000-000000000008"
        ]]
    );
}

#[tokio::test]
async fn an_invocation_answers_the_batch_item_failures_as_lambda_reads_them() {
    use eventmart_shared::lambda::Function;
    let relay = fast(InMemoryBus::new(|id, _| id == "e2"));
    let records = vec![outbox_record(1, "e1", "{}"), outbox_record(2, "e2", "{}")];
    let invocation = lambda_runtime::LambdaEvent::new(
        json!({ "Records": records }),
        lambda_runtime::Context::default(),
    );
    let out = relay.invoke(invocation).await.unwrap();
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": format!("{:021}", 2)}]})
    );
    // Not a stream batch: the invocation fails, nothing is published.
    let invalid =
        lambda_runtime::LambdaEvent::new(json!({"Records": 3}), lambda_runtime::Context::default());
    assert!(relay.invoke(invalid).await.is_err());
}
