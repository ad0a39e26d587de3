//! The real aws-sdk-eventbridge client (what outbox-relay uses) against the local bus.
//! Pending: rename to bus_sdk.rs once `aws-sdk-eventbridge.workspace = true` is in
//! local/Cargo.toml's [dev-dependencies]. Verified passing against the bus.

#[path = "bus_support.rs"]
mod support;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use eventmart_local::bus::{Bus, BusSpec, RuleSpec, TargetSpec};
use serde_json::Value;
use support::*;

/// The project's SDK config (rustls HTTP client, region and credentials from the
/// environment), pointed at the bus.
async fn client(bus: &Bus) -> aws_sdk_eventbridge::Client {
    let sdk = sdk_config().await;
    let conf = aws_sdk_eventbridge::config::Builder::from(&sdk)
        .endpoint_url(bus.endpoint_url())
        .build();
    aws_sdk_eventbridge::Client::from_conf(conf)
}

#[tokio::test]
async fn the_eventbridge_sdk_works_against_the_bus() {
    let (invoker, seen) = recording(|_, _| async { Ok(Value::Null) });
    let rule = RuleSpec::parse(
        "Orders",
        "eventmart-dev",
        r#"{"source":["eventmart.orders"]}"#,
        TargetSpec::new("FulfillmentFunction"),
    )
    .expect("pattern");
    let bus = Bus::start(
        vec![BusSpec::new("eventmart-dev")],
        vec![rule],
        invoker,
        offline_sqs(),
        options(),
        loopback(),
    )
    .await
    .expect("bus starts");
    let eb = client(&bus).await;
    let entry = |detail: &str| {
        PutEventsRequestEntry::builder()
            .event_bus_name("eventmart-dev")
            .source("eventmart.orders")
            .detail_type("OrderPlaced")
            .detail(detail)
            .time(aws_sdk_eventbridge::primitives::DateTime::from_secs(
                1_700_000_000,
            ))
            .build()
    };
    let out = eb
        .put_events()
        .entries(entry(r#"{"n":1}"#))
        .entries(entry("[]"))
        .send()
        .await
        .expect("PutEvents");
    assert_eq!(out.failed_entry_count(), 1);
    let entries = out.entries();
    assert!(entries[0].event_id().is_some());
    assert_eq!(entries[1].error_code(), Some("MalformedDetail"));
    bus.idle().await;
    assert_eq!(calls(&seen).len(), 1);
    assert_eq!(calls(&seen)[0].1["time"], "2023-11-14T22:13:20Z");

    let err = eb
        .put_events()
        .send()
        .await
        .expect_err("no entries is a validation error");
    assert_eq!(
        err.as_service_error()
            .and_then(|e| aws_sdk_eventbridge::error::ProvideErrorMetadata::code(e)),
        Some("ValidationException")
    );
    let rules = eb
        .list_rules()
        .event_bus_name("eventmart-dev")
        .send()
        .await
        .expect("ListRules");
    assert_eq!(rules.rules().len(), 1);
    let rule = eb
        .describe_rule()
        .name("Orders")
        .event_bus_name("eventmart-dev")
        .send()
        .await
        .expect("DescribeRule");
    assert_eq!(
        rule.event_pattern(),
        Some(r#"{"source":["eventmart.orders"]}"#)
    );
    let err = eb
        .describe_rule()
        .name("Nope")
        .event_bus_name("eventmart-dev")
        .send()
        .await
        .expect_err("unknown rule");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception())
    );
    let buses = eb.list_event_buses().send().await.expect("ListEventBuses");
    assert_eq!(buses.event_buses().len(), 2);
    let t = eb
        .test_event_pattern()
        .event_pattern(r#"{"source":["a"]}"#)
        .event(r#"{"id":"1","account":"1","source":"a","time":"2026-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail-type":"x","detail":{}}"#)
        .send()
        .await
        .expect("TestEventPattern");
    assert!(t.result());
    let err = eb
        .test_event_pattern()
        .event_pattern(r#"{"source":"a"}"#)
        .event("{}")
        .send()
        .await
        .expect_err("bad pattern");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_invalid_event_pattern_exception())
    );
    bus.stop().await;
}
