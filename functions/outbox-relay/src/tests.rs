//! Unit tests of the relay over an in-memory bus.

use super::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;

/// Whether to fail an entry, by its eventId and the times it was seen before.
type Rule = Box<dyn Fn(&str, u32) -> bool + Send + Sync>;

/// Records every request; fails an entry while `fail` says so for its eventId and the
/// number of times it was seen before.
struct FakeBus {
    requests: Mutex<Vec<Vec<String>>>,
    seen: Mutex<HashMap<String, u32>>,
    fail: Rule,
    request_error: Mutex<Option<PublishError>>,
}

impl FakeBus {
    fn new(fail: impl Fn(&str, u32) -> bool + Send + Sync + 'static) -> Self {
        Self {
            requests: Mutex::default(),
            seen: Mutex::default(),
            fail: Box::new(fail),
            request_error: Mutex::default(),
        }
    }
    fn requests(&self) -> Vec<Vec<String>> {
        self.requests.lock().unwrap().clone()
    }
}

impl Publisher for FakeBus {
    async fn put_events(
        &self,
        entries: &[&OutboxEntry],
    ) -> Result<Vec<Result<(), EntryFailure>>, PublishError> {
        assert!(entries.len() <= MAX_BATCH_ENTRIES);
        assert!(entries.iter().map(|e| e.size()).sum::<usize>() <= MAX_BATCH_BYTES);
        self.requests
            .lock()
            .unwrap()
            .push(entries.iter().map(|e| e.event_id.clone()).collect());
        if let Some(e) = self.request_error.lock().unwrap().take() {
            return Err(e);
        }
        let mut seen = self.seen.lock().unwrap();
        Ok(entries
            .iter()
            .map(|e| {
                let n = seen.entry(e.event_id.clone()).or_default();
                let fail = (self.fail)(&e.event_id, *n);
                *n += 1;
                if fail {
                    Err(EntryFailure {
                        code: "InternalException".into(),
                        message: "try again".into(),
                    })
                } else {
                    Ok(())
                }
            })
            .collect())
    }
}

fn fast<P: Publisher>(p: P) -> Relay<P> {
    Relay::new(p).with_backoff(Backoff {
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
    let relay = fast(FakeBus::new(|_, _| false));
    let out = relay.handle(&numbered(25, 10)).await.unwrap();
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
    let relay = fast(FakeBus::new(|_, _| false));
    // Each entry is about 60 KB: four fit in 256 KB, five do not.
    let out = relay.handle(&numbered(10, 60_000)).await.unwrap();
    assert!(failures(&out).is_empty());
    let sizes: Vec<usize> = relay.publisher.requests().iter().map(Vec::len).collect();
    assert_eq!(sizes, [4, 4, 2]);
}

#[tokio::test]
async fn entries_that_fail_once_are_resent_alone_and_succeed() {
    let relay = fast(FakeBus::new(|id, seen| {
        seen == 0 && (id == "e2" || id == "e5")
    }));
    let out = relay.handle(&numbered(6, 10)).await.unwrap();
    assert!(failures(&out).is_empty());
    assert_eq!(
        relay.publisher.requests(),
        [vec!["e1", "e2", "e3", "e4", "e5", "e6"], vec!["e2", "e5"]]
    );
}

#[tokio::test]
async fn an_entry_that_always_fails_is_the_only_failure_reported() {
    let relay = fast(FakeBus::new(|id, _| id == "e3"));
    let out = relay.handle(&numbered(5, 10)).await.unwrap();
    assert_eq!(failures(&out), [format!("{:021}", 3)]);
    let requests = relay.publisher.requests();
    assert_eq!(requests.len(), 4, "bounded attempts: {requests:?}");
    assert!(requests[1..].iter().all(|r| r == &["e3"]));
}

#[tokio::test]
async fn a_transient_request_error_resends_the_whole_batch() {
    let bus = FakeBus::new(|_, _| false);
    *bus.request_error.lock().unwrap() = Some(PublishError {
        message: "throttled".into(),
        retryable: true,
    });
    let relay = fast(bus);
    let out = relay.handle(&numbered(3, 10)).await.unwrap();
    assert!(failures(&out).is_empty());
    assert_eq!(
        relay.publisher.requests(),
        [vec!["e1", "e2", "e3"], vec!["e1", "e2", "e3"]]
    );
}

#[tokio::test]
async fn a_rejected_request_is_reported_without_resending() {
    let bus = FakeBus::new(|_, _| false);
    *bus.request_error.lock().unwrap() = Some(PublishError {
        message: "AccessDeniedException".into(),
        retryable: false,
    });
    let relay = fast(bus);
    let out = relay.handle(&numbered(2, 10)).await.unwrap();
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
    let relay = fast(FakeBus::new(|_, _| false));
    let out = relay.handle(&stream(records)).await.unwrap();
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
    let relay = fast(FakeBus::new(|_, _| false));
    let err = relay.handle(&stream(vec![r])).await.unwrap_err();
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
    let relay = fast(FakeBus::new(|_, _| false));
    let out = relay.handle(&event).await.unwrap();
    assert!(failures(&out).is_empty());
    assert_eq!(
        relay.publisher.requests(),
        [vec![
            "0193b3a4-aaaa-7000-8000-000000000005",
            "0193b3a4-aaaa-7000-8000-000000000008"
        ]]
    );
}
