//! The DynamoDB Streams poller against moto (AWS_ENDPOINT_URL from scripts/with-moto.sh):
//! filters, order, batch item failures, bisect and the on-failure destination.

#[path = "eventbridge_support.rs"]
mod support;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, StreamSpecification, StreamViewType, TransactWriteItem,
};
use eventmart_local::Pattern;
use eventmart_local::event_source_mapping::{StreamOptions, StreamPoller, StreamSpec};
use eventmart_local::lambda::{InvokeError, Invoker};
use eventmart_local::log::LogMode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::*;

const OUTBOX_FILTER: &str =
    r#"{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["outbox"]}}}}"#;

async fn table(ddb: &aws_sdk_dynamodb::Client) -> String {
    let name = format!(
        "bus-streams-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    ddb.create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .expect("stream"),
        )
        .send()
        .await
        .expect("create table");
    name
}

fn put(table: &str, pk: &str, kind: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .item("pk", AttributeValue::S(pk.into()))
                .item("kind", AttributeValue::S(kind.into()))
                .build()
                .expect("put"),
        )
        .build()
}

/// Writes order `n` and its outbox item in one transaction, as the producers do.
async fn place(ddb: &aws_sdk_dynamodb::Client, table: &str, n: u32) {
    ddb.transact_write_items()
        .transact_items(put(table, &format!("ORDER#{n}"), "order"))
        .transact_items(put(table, &format!("OUTBOX#{n}"), "outbox"))
        .send()
        .await
        .expect("transaction");
}

fn spec(table: &str) -> StreamSpec {
    let mut s = StreamSpec::new(table, "OutboxRelayFunction");
    s.filters = vec![Pattern::parse(OUTBOX_FILTER).expect("filter")];
    s
}

fn options() -> StreamOptions {
    StreamOptions {
        log: LogMode::Human,
        poll_interval: Duration::from_millis(20),
        retry_delay: Duration::from_millis(5),
        ..StreamOptions::default()
    }
}

/// The outbox keys of each invocation's records.
fn batches(calls: &[(String, Value)]) -> Vec<Vec<String>> {
    calls
        .iter()
        .map(|(_, p)| {
            p["Records"]
                .as_array()
                .map(|rs| {
                    rs.iter()
                        .filter_map(|r| {
                            r["dynamodb"]["Keys"]["pk"]["S"].as_str().map(str::to_owned)
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect()
}

async fn start(
    mappings: Vec<StreamSpec>,
    invoker: Arc<dyn Invoker>,
    sqs: aws_sdk_sqs::Client,
) -> StreamPoller {
    let config = sdk_config().await;
    StreamPoller::start(
        mappings,
        aws_sdk_dynamodbstreams::Client::new(&config),
        aws_sdk_dynamodb::Client::new(&config),
        invoker,
        sqs,
        options(),
    )
    .await
    .expect("poller starts")
}

#[tokio::test]
async fn the_relay_gets_only_outbox_inserts_in_order() {
    let config = sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let table = table(&ddb).await;
    let (invoker, seen) = recording(|_, _| async { Ok(json!({"batchItemFailures": []})) });
    let mut s = spec(&table);
    s.report_batch_item_failures = true;
    let poller = start(vec![s], invoker, sqs().await).await;
    for n in 1..=3 {
        place(&ddb, &table, n).await;
    }
    // A MODIFY of an outbox item does not pass the filter.
    ddb.put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("OUTBOX#1".into()))
        .item("kind", AttributeValue::S("outbox".into()))
        .item("published", AttributeValue::Bool(true))
        .send()
        .await
        .expect("put");
    poller.idle().await;
    let seen = calls(&seen);
    let keys: Vec<String> = batches(&seen).concat();
    assert_eq!(keys, ["OUTBOX#1", "OUTBOX#2", "OUTBOX#3"]);
    let arn = ddb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("describe")
        .table()
        .and_then(|t| t.latest_stream_arn())
        .expect("stream arn")
        .to_owned();
    for (function, payload) in &seen {
        assert_eq!(function, "OutboxRelayFunction");
        for r in payload["Records"].as_array().expect("Records") {
            assert_eq!(r["eventName"], "INSERT");
            assert_eq!(r["eventSource"], "aws:dynamodb");
            assert_eq!(r["eventSourceARN"], arn.as_str());
            assert_eq!(r["dynamodb"]["NewImage"]["kind"], json!({"S": "outbox"}));
            assert_eq!(r["dynamodb"]["StreamViewType"], "NEW_IMAGE");
            assert!(r["dynamodb"]["SequenceNumber"].is_string());
            assert!(r["eventID"].is_string());
        }
    }
    let c = poller.counters();
    assert_eq!(c.records_read, 7);
    assert_eq!(c.records_filtered_out, 4);
    assert_eq!(c.records_delivered, 3);
    poller.stop().await;
}

#[tokio::test]
async fn batch_item_failures_are_retried_from_the_first_failed_record() {
    let config = sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let table = table(&ddb).await;
    for n in 1..=3 {
        place(&ddb, &table, n).await;
    }
    let failed_once = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (invoker, seen) = recording(move |_, payload| {
        let failed_once = failed_once.clone();
        async move {
            let records = payload["Records"].as_array().cloned().unwrap_or_default();
            let second = records
                .iter()
                .find(|r| r["dynamodb"]["Keys"]["pk"]["S"] == "OUTBOX#2");
            match second {
                Some(r) if !failed_once.swap(true, std::sync::atomic::Ordering::SeqCst) => {
                    let id = r["dynamodb"]["SequenceNumber"].clone();
                    Ok(json!({"batchItemFailures": [{"itemIdentifier": id}]}))
                }
                _ => Ok(json!({"batchItemFailures": []})),
            }
        }
    });
    let mut s = spec(&table);
    s.report_batch_item_failures = true;
    let poller = start(vec![s], invoker, sqs().await).await;
    poller.idle().await;
    assert_eq!(
        batches(&calls(&seen)),
        vec![
            vec!["OUTBOX#1", "OUTBOX#2", "OUTBOX#3"],
            vec!["OUTBOX#2", "OUTBOX#3"]
        ]
    );
    let c = poller.counters();
    assert_eq!(
        (c.retried, c.records_delivered, c.batches_failed),
        (1, 3, 0)
    );
    poller.stop().await;
}

#[tokio::test]
async fn bisect_isolates_a_poison_record_and_sends_it_to_the_on_failure_queue() {
    let config = sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = sqs().await;
    let on_failure = queue(&sqs, "relay-dlq").await;
    let table = table(&ddb).await;
    for n in 1..=4 {
        place(&ddb, &table, n).await;
    }
    let (invoker, seen) = recording(|_, payload| async move {
        let poisoned = payload["Records"].as_array().is_some_and(|rs| {
            rs.iter()
                .any(|r| r["dynamodb"]["Keys"]["pk"]["S"] == "OUTBOX#3")
        });
        if poisoned {
            Err(InvokeError::Function {
                error_type: "Poison".into(),
                message: "cannot publish OUTBOX#3".into(),
            })
        } else {
            Ok(Value::Null)
        }
    });
    let mut s = spec(&table);
    s.bisect_on_error = true;
    s.max_retry_attempts = 1;
    s.on_failure_queue_url = Some(on_failure.clone());
    let poller = start(vec![s], invoker, sqs.clone()).await;
    poller.idle().await;
    let seen = calls(&seen);
    assert_eq!(
        batches(&seen),
        vec![
            vec!["OUTBOX#1", "OUTBOX#2", "OUTBOX#3", "OUTBOX#4"],
            vec!["OUTBOX#1", "OUTBOX#2"],
            vec!["OUTBOX#3", "OUTBOX#4"],
            vec!["OUTBOX#3"],
            vec!["OUTBOX#3"],
            vec!["OUTBOX#4"],
        ]
    );
    let poison_seq = seen[3].1["Records"][0]["dynamodb"]["SequenceNumber"].clone();
    let msgs = drain(&sqs, &on_failure).await;
    assert_eq!(msgs.len(), 1);
    let info = &msgs[0].0["DDBStreamBatchInfo"];
    assert_eq!(info["batchSize"], 1);
    assert_eq!(info["startSequenceNumber"], poison_seq);
    assert_eq!(info["endSequenceNumber"], poison_seq);
    assert!(info["shardId"].is_string());
    assert!(
        info["streamArn"]
            .as_str()
            .is_some_and(|a| a.contains(&table))
    );
    assert_eq!(msgs[0].0["requestContext"]["approximateInvokeCount"], 2);
    let c = poller.counters();
    assert_eq!(
        (c.bisected, c.batches_failed, c.records_delivered),
        (2, 1, 3)
    );
    poller.stop().await;
}

#[tokio::test]
async fn records_past_the_maximum_record_age_go_to_the_on_failure_queue() {
    let config = sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = sqs().await;
    let on_failure = queue(&sqs, "relay-age").await;
    let table = table(&ddb).await;
    place(&ddb, &table, 1).await;
    let (invoker, seen) = recording(|_, _| async {
        Err(InvokeError::Function {
            error_type: "Down".into(),
            message: "the bus is down".into(),
        })
    });
    let mut s = spec(&table);
    // Retries alone would go on for minutes; the record's age ends them.
    s.max_retry_attempts = 100_000;
    // Creation times are whole seconds (rounded down), so a record can look up to a
    // second older than it is.
    s.max_record_age = Some(Duration::from_secs(4));
    s.on_failure_queue_url = Some(on_failure.clone());
    let mut o = options();
    o.retry_delay = Duration::from_millis(200);
    let config = sdk_config().await;
    let poller = StreamPoller::start(
        vec![s],
        aws_sdk_dynamodbstreams::Client::new(&config),
        aws_sdk_dynamodb::Client::new(&config),
        invoker,
        sqs.clone(),
        o,
    )
    .await
    .expect("poller starts");
    poller.idle().await;
    let msgs = drain(&sqs, &on_failure).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(
        msgs[0].0["requestContext"]["condition"],
        "RecordAgeExceeded"
    );
    assert_eq!(msgs[0].0["DDBStreamBatchInfo"]["batchSize"], 1);
    let invocations = calls(&seen).len();
    assert!(
        (2..=40).contains(&invocations),
        "retried until the record was 4 s old, then stopped: {invocations} invocations"
    );
    assert_eq!(poller.counters().batches_failed, 1);
    poller.stop().await;
}
