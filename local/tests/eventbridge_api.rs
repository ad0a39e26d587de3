//! The EventBridge JSON API of the local bus, through raw HTTP and the AWS CLI.

#[path = "eventbridge_support.rs"]
mod support;

use eventmart_local::eventbridge::{ArchiveSpec, Bus, BusSpec, RuleSpec, TargetSpec};
use serde_json::{Value, json};
use std::path::PathBuf;
use support::*;

fn ok(
    _: String,
    _: Value,
) -> std::future::Ready<Result<Value, eventmart_local::lambda::InvokeError>> {
    std::future::ready(Ok(Value::Null))
}

/// The template's routing for eventmart-dev (what the orchestrator derives from it).
fn template_rules() -> Vec<RuleSpec> {
    let rule = |name: &str, pattern: &str, function: &str| {
        RuleSpec::parse(name, "eventmart-dev", pattern, TargetSpec::new(function)).expect("pattern")
    };
    vec![
        rule(
            "OrdersFunctionOrderShipped",
            r#"{"source":["eventmart.fulfillment"],"detail-type":["OrderShipped"]}"#,
            "OrdersFunction",
        ),
        rule(
            "FulfillmentFunctionOrders",
            r#"{"source":["eventmart.orders"],"detail-type":["OrderPlaced","OrderCanceled"]}"#,
            "FulfillmentFunction",
        ),
        rule(
            "IngestionFunctionEverything",
            r#"{"source":[{"prefix":"eventmart."}]}"#,
            "IngestionFunction",
        ),
    ]
}

async fn start(invoker: std::sync::Arc<dyn eventmart_local::lambda::Invoker>) -> Bus {
    offline_bus(
        vec![BusSpec::new("eventmart-dev").with_archive(ArchiveSpec::new("eventmart-dev-all"))],
        template_rules(),
        invoker,
    )
    .await
}

#[tokio::test]
async fn put_events_validates_entries_and_returns_per_entry_results() {
    let (invoker, seen) = recording(ok);
    let bus = start(invoker).await;
    let addr = bus.local_addr();

    let (status, body) = call(addr, "PutEvents", r#"{"Entries":[]}"#).await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "ValidationException");
    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"Source":"s","DetailType":"d","Detail":"{}"}))
        .collect();
    let (status, body) = call(addr, "PutEvents", &json!({"Entries": eleven}).to_string()).await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("ValidationException"))
    );
    let huge = json!({"Entries":[{"Source":"s","DetailType":"d","Detail": json!({"x": "y".repeat(300_000)}).to_string()}]});
    let (status, body) = call(addr, "PutEvents", &huge.to_string()).await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("ValidationException"))
    );
    let (status, body) = call(addr, "PutEvents", "not json").await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("SerializationException"))
    );
    // Past axum's default 2 MB body limit: still parsed, still AWS's answer.
    let three_mib = json!({"Entries":[{"Source":"s","DetailType":"d","Detail": json!({"x": "y".repeat(3 << 20)}).to_string()}]});
    let (status, body) = call(addr, "PutEvents", &three_mib.to_string()).await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (400, Some("ValidationException")),
        "{body}"
    );
    // Past what the bus reads at all: 413, as JSON.
    let huge = vec![b' '; eventmart_local::eventbridge::MAX_BODY_BYTES + 1];
    let (status, body) = request(
        addr,
        "POST",
        "/",
        "X-Amz-Target: AWSEvents.PutEvents\r\n",
        huge,
    )
    .await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (413, Some("ValidationException"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("bytes"),
        "{body}"
    );
    // Not the API's one path or method: JSON errors too, naming what was asked.
    let (status, body) = request(addr, "GET", "/", "", vec![]).await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (405, Some("UnknownOperationException"))
    );
    let (status, body) = request(addr, "POST", "/rules", "", b"{}".to_vec()).await;
    assert_eq!(
        (status, body["__type"].as_str()),
        (404, Some("UnknownOperationException"))
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("POST /rules"),
        "{body}"
    );

    let req = json!({"Entries": [
        {"EventBusName": "eventmart-dev", "Source": "eventmart.orders", "DetailType": "OrderPlaced", "Detail": "{\"a\":1}"},
        {"EventBusName": "eventmart-dev", "DetailType": "OrderPlaced", "Detail": "{}"},
        {"EventBusName": "eventmart-dev", "Source": "eventmart.orders", "Detail": "{}"},
        {"EventBusName": "eventmart-dev", "Source": "eventmart.orders", "DetailType": "OrderPlaced"},
        {"EventBusName": "eventmart-dev", "Source": "eventmart.orders", "DetailType": "OrderPlaced", "Detail": "\"text\""},
        {"EventBusName": "no-such-bus", "Source": "eventmart.orders", "DetailType": "OrderPlaced", "Detail": "{}"},
        {"EventBusName": "arn:aws:events:us-east-1:123456789012:event-bus/eventmart-dev", "Source": "other", "DetailType": "X", "Detail": "{}", "Time": 1_700_000_000, "Resources": ["r1"]}
    ]});
    let (status, body) = call(addr, "PutEvents", &req.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["FailedEntryCount"], 5);
    let entries = body["Entries"].as_array().expect("Entries");
    assert_eq!(entries.len(), 7);
    assert!(entries[0]["EventId"].is_string());
    assert!(entries[6]["EventId"].is_string());
    let codes: Vec<&str> = entries[1..6]
        .iter()
        .map(|e| e["ErrorCode"].as_str().unwrap_or("none"))
        .collect();
    assert_eq!(
        codes,
        [
            "InvalidArgument",
            "InvalidArgument",
            "InvalidArgument",
            "MalformedDetail",
            "InvalidArgument"
        ]
    );
    assert!(
        entries[1]["ErrorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("Source")
    );
    assert!(
        entries[5]["ErrorMessage"]
            .as_str()
            .unwrap_or_default()
            .contains("no-such-bus")
    );

    bus.idle().await;
    // The OrderPlaced goes to fulfillment and ingestion; "other" matches no rule.
    let mut functions: Vec<String> = calls(&seen).into_iter().map(|c| c.0).collect();
    functions.sort();
    assert_eq!(functions, ["FulfillmentFunction", "IngestionFunction"]);
    let archived = bus.archive();
    assert_eq!(archived.len(), 2);
    assert_eq!(archived[1].event["time"], "2023-11-14T22:13:20Z");
    assert_eq!(archived[1].event["resources"], json!(["r1"]));
    bus.stop().await;
}

#[tokio::test]
async fn test_event_pattern_answers_and_rejects_bad_patterns() {
    let (invoker, _) = recording(ok);
    let bus = start(invoker).await;
    let addr = bus.local_addr();
    let event = json!({"id":"1","account":"123456789012","source":"eventmart.orders","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail-type":"OrderPlaced","detail":{"total":{"amountMinor":11499}}}).to_string();
    let req =
        |pattern: &str, event: &str| json!({"EventPattern": pattern, "Event": event}).to_string();

    let (s, b) = call(
        addr,
        "TestEventPattern",
        &req(
            r#"{"detail":{"total":{"amountMinor":[{"numeric":[">",10000]}]}}}"#,
            &event,
        ),
    )
    .await;
    assert_eq!((s, b.clone()), (200, json!({"Result": true})), "{b}");
    let (s, b) = call(
        addr,
        "TestEventPattern",
        &req(r#"{"source":[{"prefix":"eventmart.m"}]}"#, &event),
    )
    .await;
    assert_eq!((s, b), (200, json!({"Result": false})));
    let (s, b) = call(addr, "TestEventPattern", &req(r#"{"source":[]}"#, &event)).await;
    assert_eq!(
        (s, b["__type"].as_str()),
        (400, Some("InvalidEventPatternException"))
    );
    assert!(
        b["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Event pattern is not valid.")
    );
    let (s, b) = call(
        addr,
        "TestEventPattern",
        &req(r#"{"source":["a"]}"#, r#"{"source":"a"}"#),
    )
    .await;
    assert_eq!(
        (s, b["__type"].as_str()),
        (400, Some("ValidationException"))
    );
    let (s, b) = call(addr, "TestEventPattern", r#"{"Event":"{}"}"#).await;
    assert_eq!(
        (s, b["__type"].as_str()),
        (400, Some("ValidationException"))
    );
    bus.stop().await;
}

#[tokio::test]
async fn list_rules_describe_rule_and_list_event_buses() {
    let (invoker, _) = recording(ok);
    let bus = start(invoker).await;
    let addr = bus.local_addr();

    let (s, b) = call(addr, "ListEventBuses", "{}").await;
    assert_eq!(s, 200);
    let names: Vec<&str> = b["EventBuses"]
        .as_array()
        .expect("buses")
        .iter()
        .filter_map(|x| x["Name"].as_str())
        .collect();
    assert_eq!(names, ["default", "eventmart-dev"]);
    assert_eq!(
        b["EventBuses"][1]["Arn"],
        "arn:aws:events:us-east-1:123456789012:event-bus/eventmart-dev"
    );
    let (_, b) = call(addr, "ListEventBuses", r#"{"NamePrefix":"event"}"#).await;
    assert_eq!(b["EventBuses"].as_array().map(Vec::len), Some(1));

    let (s, b) = call(addr, "ListRules", r#"{"EventBusName":"eventmart-dev"}"#).await;
    assert_eq!(s, 200);
    assert_eq!(b["Rules"].as_array().map(Vec::len), Some(3));
    let (_, b) = call(
        addr,
        "ListRules",
        r#"{"EventBusName":"eventmart-dev","NamePrefix":"Fulfillment"}"#,
    )
    .await;
    assert_eq!(b["Rules"][0]["Name"], "FulfillmentFunctionOrders");
    assert_eq!(b["Rules"].as_array().map(Vec::len), Some(1));
    let (_, b) = call(addr, "ListRules", "{}").await;
    assert_eq!(b["Rules"], json!([]), "the default bus has no rules");
    let (_, b) = call(
        addr,
        "ListRules",
        r#"{"EventBusName":"eventmart-dev","Limit":2}"#,
    )
    .await;
    assert_eq!(b["Rules"].as_array().map(Vec::len), Some(2));
    let next = b["NextToken"].as_str().expect("NextToken").to_owned();
    let (_, b) = call(
        addr,
        "ListRules",
        &json!({"EventBusName":"eventmart-dev","Limit":2,"NextToken":next}).to_string(),
    )
    .await;
    assert_eq!(b["Rules"].as_array().map(Vec::len), Some(1));
    assert!(b.get("NextToken").is_none());

    let (s, b) = call(
        addr,
        "DescribeRule",
        r#"{"Name":"FulfillmentFunctionOrders","EventBusName":"eventmart-dev"}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b["Arn"],
        "arn:aws:events:us-east-1:123456789012:rule/eventmart-dev/FulfillmentFunctionOrders"
    );
    assert_eq!(b["State"], "ENABLED");
    assert_eq!(b["EventBusName"], "eventmart-dev");
    let pattern: Value =
        serde_json::from_str(b["EventPattern"].as_str().expect("pattern text")).expect("JSON");
    assert_eq!(
        pattern["detail-type"],
        json!(["OrderPlaced", "OrderCanceled"])
    );
    let (s, b) = call(
        addr,
        "DescribeRule",
        r#"{"Name":"Nope","EventBusName":"eventmart-dev"}"#,
    )
    .await;
    assert_eq!(
        (s, b["__type"].as_str()),
        (400, Some("ResourceNotFoundException"))
    );
    let (s, b) = call(addr, "ListRules", r#"{"EventBusName":"nope"}"#).await;
    assert_eq!(
        (s, b["__type"].as_str()),
        (400, Some("ResourceNotFoundException"))
    );

    let (s, b) = call(
        addr,
        "ListTargetsByRule",
        r#"{"Rule":"IngestionFunctionEverything","EventBusName":"eventmart-dev"}"#,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b["Targets"][0]["Arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:IngestionFunction"
    );
    assert_eq!(b["Targets"][0]["RetryPolicy"]["MaximumRetryAttempts"], 185);

    let (s, b) = call(addr, "CreateRule", "{}").await;
    assert_eq!(
        (s, b["__type"].as_str()),
        (400, Some("UnknownOperationException"))
    );
    assert!(b["message"].is_string());
    bus.stop().await;
}

/// The AWS CLI (a real client: SigV4, JSON 1.1, its own validation) against the bus.
#[tokio::test]
async fn aws_cli_put_events_reaches_the_right_consumers() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let aws = root.join(".venv/bin/aws");
    assert!(aws.exists(), "the AWS CLI is missing: run 'make setup'");
    let (invoker, seen) = recording(ok);
    let bus = start(invoker).await;
    let cli = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(&aws);
        cmd.args(args)
            .args([
                "--endpoint-url",
                &bus.endpoint_url(),
                "--region",
                "us-east-1",
                "--output",
                "json",
            ])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .kill_on_drop(true);
        cmd
    };
    let expected = [
        (
            "OrderPlaced",
            vec!["FulfillmentFunction", "IngestionFunction"],
        ),
        ("OrderShipped", vec!["IngestionFunction", "OrdersFunction"]),
        ("MembershipSignedUp", vec!["IngestionFunction"]),
    ];
    for (name, functions) in expected {
        let file = root.join(format!("events/entries/{name}.json"));
        let before = calls(&seen).len();
        let out = cli(&[
            "events",
            "put-events",
            "--entries",
            &format!("file://{}", file.display()),
        ])
        .output()
        .await
        .expect("run aws");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let resp: Value = serde_json::from_slice(&out.stdout).expect("CLI prints JSON");
        assert_eq!(resp["FailedEntryCount"], 0, "{resp}");
        let id = resp["Entries"][0]["EventId"]
            .as_str()
            .expect("EventId")
            .to_owned();
        bus.idle().await;
        let mut got: Vec<(String, Value)> = calls(&seen).split_off(before);
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            functions,
            "{name}"
        );
        for (_, event) in &got {
            assert_eq!(event["id"], id.as_str());
            assert_eq!(event["detail-type"], name);
            assert!(event["detail"]["metadata"]["eventId"].is_string());
        }
    }
    let out = cli(&["events", "list-rules", "--event-bus-name", "eventmart-dev"])
        .output()
        .await
        .expect("run aws");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(resp["Rules"].as_array().map(Vec::len), Some(3));
    let out = cli(&[
        "events", "test-event-pattern",
        "--event-pattern", r#"{"source":["a"]}"#,
        "--event", r#"{"id":"1","account":"1","source":"a","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail-type":"x","detail":{}}"#,
    ]).output().await.expect("run aws");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(resp["Result"], true);
    bus.stop().await;
}
