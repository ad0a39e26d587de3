//! The relay with the real aws-sdk-eventbridge client: against a fake EventBridge
//! endpoint that fails entries on purpose, and against moto's EventBridge.

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use chrono::Utc;
use eventmart_shared::events::{
    CorrelationId, Envelope, Event, FulfillmentStarted, Metadata, OrderId,
};
use eventmart_tests::{create_queue, drain_queue, fixture, sdk_config, sqs};
use outbox_relay::{App, Backoff, Deployed, EventBridgePublisher, MAX_BATCH_BYTES, Settings};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// Decides, per entry and the number of times its detail was seen before, whether the
/// fake fails it.
type Rule = Arc<dyn Fn(&Value, u32) -> bool + Send + Sync>;

/// A tiny HTTP/1.1 server answering `AWSEvents.PutEvents` (aws-json-1.1).
struct FakeEventBridge {
    url: String,
    /// The `Entries` of every PutEvents request, in arrival order.
    requests: Arc<Mutex<Vec<Vec<Value>>>>,
}

impl FakeEventBridge {
    async fn start(rule: Rule) -> Self {
        Self::start_with(rule, None).await
    }

    /// With `refusal`, every PutEvents request fails as a whole with that status and
    /// error code.
    async fn start_with(rule: Rule, refusal: Option<(u16, &'static str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(vec![]));
        let seen = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
        let log = requests.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (log, seen, rule) = (log.clone(), seen.clone(), rule.clone());
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut read = BufReader::new(read);
                    // Keep-alive: one request after another on the connection.
                    while let Some((target, body)) = read_request(&mut read).await {
                        let response = if let Some((status, code)) = refusal {
                            log.lock()
                                .unwrap()
                                .push(body["Entries"].as_array().cloned().unwrap_or_default());
                            (status, json!({"__type": code, "message": "refused"}))
                        } else if target == "AWSEvents.PutEvents" {
                            let entries = body["Entries"].as_array().cloned().unwrap_or_default();
                            log.lock().unwrap().push(entries.clone());
                            let mut seen = seen.lock().unwrap();
                            let results: Vec<Value> = entries
                                .iter()
                                .map(|e| {
                                    let n = seen.entry(e["Detail"].to_string()).or_default();
                                    let fail = rule(e, *n);
                                    *n += 1;
                                    if fail {
                                        json!({"ErrorCode": "InternalException", "ErrorMessage": "try again"})
                                    } else {
                                        json!({"EventId": uuid::Uuid::new_v4().to_string()})
                                    }
                                })
                                .collect();
                            let failed = results
                                .iter()
                                .filter(|r| r.get("ErrorCode").is_some())
                                .count();
                            (200, json!({"FailedEntryCount": failed, "Entries": results}))
                        } else {
                            (400, json!({"__type": "UnknownOperationException"}))
                        };
                        let text = response.1.to_string();
                        let head = format!(
                            "HTTP/1.1 {} X\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nx-amzn-requestid: {}\r\n\r\n",
                            response.0,
                            text.len(),
                            uuid::Uuid::new_v4()
                        );
                        if write.write_all(head.as_bytes()).await.is_err()
                            || write.write_all(text.as_bytes()).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<Vec<Value>> {
        self.requests.lock().unwrap().clone()
    }

    async fn relay(&self) -> Deployed {
        let config = sdk_config().await;
        let client = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&config)
                .endpoint_url(&self.url)
                .build(),
        );
        App::new(EventBridgePublisher::new(client, "eventmart-bus")).with_backoff(Backoff {
            attempts: 4,
            base: Duration::from_millis(5),
        })
    }
}

/// One request: its `X-Amz-Target` and JSON body; `None` when the connection closes.
async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R) -> Option<(String, Value)> {
    let mut target = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "x-amz-target" => target = value.trim().to_owned(),
                "content-length" => length = value.trim().parse().ok()?,
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    read.read_exact(&mut body).await.ok()?;
    Some((target, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// A valid event's detail, padded with `pad` bytes of whitespace (JSON stays valid).
fn detail(pad: usize) -> (String, String) {
    let event = Event::FulfillmentStarted(Envelope::new(
        Metadata::new(CorrelationId::new(), Utc::now()),
        FulfillmentStarted {
            order_id: OrderId::new(),
        },
    ));
    let entry = event.to_entry();
    let id = event.metadata().event_id.to_string();
    (id, format!("{}{}", entry.detail, " ".repeat(pad)))
}

/// A stream batch of `n` outbox INSERTs; returns it with the details in order.
fn stream(n: usize, pad: usize) -> (StreamEvent, Vec<String>) {
    let mut details = vec![];
    let records: Vec<Value> = (1..=n)
        .map(|i| {
            let (id, detail) = detail(pad);
            details.push(detail.clone());
            json!({
                "eventID": format!("r{i}"),
                "eventName": "INSERT",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"pk": {"S": format!("OUTBOX#{id}")}},
                    "NewImage": {
                        "pk": {"S": format!("OUTBOX#{id}")},
                        "kind": {"S": "outbox"},
                        "source": {"S": "eventmart.fulfillment"},
                        "detailType": {"S": "FulfillmentStarted"},
                        "detail": {"S": detail},
                        "eventId": {"S": id},
                        "correlationId": {"S": CorrelationId::new().to_string()},
                        "expiresAt": {"N": "1795774530"}
                    },
                    "SequenceNumber": seq(i),
                    "SizeBytes": 300,
                    "StreamViewType": "NEW_IMAGE"
                }
            })
        })
        .collect();
    (
        serde_json::from_value(json!({"Records": records})).unwrap(),
        details,
    )
}

fn seq(i: usize) -> String {
    format!("{:021}", 1000 + i)
}

fn failures(r: &DynamoDbEventResponse) -> Vec<String> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap_or_default())
        .collect()
}

fn details_of(request: &[Value]) -> Vec<String> {
    request
        .iter()
        .map(|e| e["Detail"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn entries_failed_the_first_time_are_resent_alone_and_succeed() {
    let (event, details) = stream(12, 0);
    let flaky: Vec<String> = vec![details[2].clone(), details[10].clone()];
    let flaky_rule = flaky.clone();
    let fake = FakeEventBridge::start(Arc::new(move |e, seen| {
        seen == 0 && flaky_rule.iter().any(|d| e["Detail"] == *d)
    }))
    .await;
    let out = fake.relay().await.on_stream(&event).await.unwrap();
    assert!(failures(&out).is_empty());
    let requests = fake.requests();
    let sizes: Vec<usize> = requests.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 2, 2]);
    assert_eq!(requests[..2].concat().len(), 12);
    assert_eq!(details_of(&requests[0]), details[..10]);
    assert_eq!(
        details_of(&requests[2]),
        flaky,
        "only the failed entries, in order"
    );
    for e in requests.concat() {
        assert_eq!(e["EventBusName"], "eventmart-bus");
        assert_eq!(e["Source"], "eventmart.fulfillment");
        assert_eq!(e["DetailType"], "FulfillmentStarted");
    }
}

#[tokio::test]
async fn an_entry_that_always_fails_is_its_records_only_batch_item_failure() {
    let (event, details) = stream(5, 0);
    let doomed = details[3].clone();
    let fake = FakeEventBridge::start(Arc::new(move |e, _| e["Detail"] == doomed)).await;
    let out = fake.relay().await.on_stream(&event).await.unwrap();
    assert_eq!(failures(&out), [seq(4)]);
    let requests = fake.requests();
    assert_eq!(requests.len(), 4, "bounded attempts");
    assert_eq!(requests[0].len(), 5);
    assert!(
        requests[1..]
            .iter()
            .all(|r| details_of(r) == [details[3].clone()])
    );
}

#[tokio::test]
async fn twenty_five_records_take_three_put_events_calls() {
    let (event, details) = stream(25, 0);
    let fake = FakeEventBridge::start(Arc::new(|_, _| false)).await;
    let out = fake.relay().await.on_stream(&event).await.unwrap();
    assert!(failures(&out).is_empty());
    let requests = fake.requests();
    let sizes: Vec<usize> = requests.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
    let sent: Vec<String> = requests.iter().flat_map(|r| details_of(r)).collect();
    assert_eq!(sent, details, "in record order");
}

#[tokio::test]
async fn big_details_are_split_into_requests_under_256_kb() {
    let (event, details) = stream(9, 100_000);
    let fake = FakeEventBridge::start(Arc::new(|_, _| false)).await;
    let out = fake.relay().await.on_stream(&event).await.unwrap();
    assert!(failures(&out).is_empty());
    let requests = fake.requests();
    assert_eq!(requests.len(), 5, "two 100 KB entries per request");
    for r in &requests {
        let size: usize = r
            .iter()
            .map(|e| {
                ["Source", "DetailType", "Detail"]
                    .iter()
                    .map(|k| e[k].as_str().unwrap_or_default().len())
                    .sum::<usize>()
            })
            .sum();
        assert!(size <= MAX_BATCH_BYTES, "{size} bytes");
    }
    let sent: Vec<String> = requests.iter().flat_map(|r| details_of(r)).collect();
    assert_eq!(sent, details);
}

#[tokio::test]
async fn a_request_eventbridge_refuses_is_not_resent_and_fails_every_record() {
    let (event, _) = stream(3, 0);
    let fake =
        FakeEventBridge::start_with(Arc::new(|_, _| false), Some((400, "AccessDeniedException")))
            .await;
    let out = fake.relay().await.on_stream(&event).await.unwrap();
    assert_eq!(failures(&out), [seq(1), seq(2), seq(3)]);
    assert_eq!(fake.requests().len(), 1, "a refused request is not resent");
}

/// moto implements EventBridge buses, rules and SQS targets: the sample batch's two
/// outbox items arrive on a queue through a rule; the MODIFY record does not.
#[tokio::test]
async fn the_sample_stream_batch_reaches_an_sqs_target_through_moto_eventbridge() {
    let config = sdk_config().await;
    let events = aws_sdk_eventbridge::Client::new(&config);
    let sqs = sqs().await;
    let queue = create_queue(&sqs, "relay-target").await;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let bus = format!(
        "eventmart-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    events.create_event_bus().name(&bus).send().await.unwrap();
    events
        .put_rule()
        .name("fulfillment-events")
        .event_bus_name(&bus)
        .event_pattern(json!({"source": [{"prefix": "eventmart."}]}).to_string())
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("fulfillment-events")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let batch: StreamEvent =
        serde_json::from_value(fixture("events/outbox-relay/stream-batch.json")).unwrap();
    let relay = outbox_relay::build(
        &config,
        &Settings {
            event_bus_name: bus.clone(),
        },
    );
    let out = relay.on_stream(&batch).await.unwrap();
    assert!(failures(&out).is_empty());

    let mut got = drain_queue(&sqs, &queue).await;
    got.sort_by_key(|m| {
        m["detail"]["metadata"]["eventId"]
            .as_str()
            .map(str::to_owned)
    });
    let types: Vec<&str> = got
        .iter()
        .map(|m| m["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["FulfillmentStarted", "OrderShipped"]);
    for (m, sample) in got.iter().zip(["FulfillmentStarted", "OrderShipped"]) {
        let expected = fixture(&format!("events/eventbridge/{sample}.json"));
        assert_eq!(m["source"], "eventmart.fulfillment");
        assert_eq!(m["detail"], expected["detail"]);
        let parsed = Event::from_eventbridge(m).unwrap();
        assert_eq!(parsed.event_type().detail_type(), sample);
    }
}
