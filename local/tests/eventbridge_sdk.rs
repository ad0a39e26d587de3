//! The real aws-sdk-eventbridge client (what outbox-relay uses) against the local bus.

#[path = "eventbridge_support.rs"]
mod support;

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::types::{ReplayDestination, ReplayState};
use eventmart_local::eventbridge::{ArchiveSpec, Bus, BusSpec, RuleSpec, TargetSpec};
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
    let bus = offline_bus(vec![BusSpec::new("eventmart-dev")], vec![rule], invoker).await;
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

/// The service error code of an SDK error.
fn code<E: aws_sdk_eventbridge::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_eventbridge::error::SdkError<E, R>,
) -> Option<String> {
    e.as_service_error()
        .and_then(|e| e.code())
        .map(str::to_owned)
}

#[tokio::test]
async fn start_replay_replays_a_time_range_of_the_archive_to_the_chosen_rules() {
    let (invoker, seen) = recording(|_, _| async { Ok(Value::Null) });
    let rule = |name: &str, target: &str| {
        RuleSpec::parse(
            name,
            "eventmart-dev",
            r#"{"source":["eventmart.orders"]}"#,
            TargetSpec::new(target),
        )
        .expect("pattern")
    };
    let mut archive = ArchiveSpec::new("eventmart-dev-all");
    archive.retention_days = Some(30);
    archive.pattern_json = Some(r#"{"source":[{"prefix":"eventmart."}]}"#.into());
    archive.pattern = Some(
        eventmart_local::Pattern::parse(archive.pattern_json.as_deref().expect("set"))
            .expect("pattern"),
    );
    let bus = offline_bus(
        vec![
            BusSpec::new("eventmart-dev").with_archive(archive),
            BusSpec::new("other"),
        ],
        vec![
            rule("ToFulfillment", "Fulfillment"),
            rule("ToIngestion", "Ingestion"),
        ],
        invoker,
    )
    .await;
    let eb = client(&bus).await;
    // Three events at t = 0, 100, 200 s (their Time), and one the archive's pattern leaves out.
    for (n, secs) in [(1, 0), (2, 100), (3, 200)] {
        eb.put_events()
            .entries(
                PutEventsRequestEntry::builder()
                    .event_bus_name("eventmart-dev")
                    .source("eventmart.orders")
                    .detail_type("OrderPlaced")
                    .detail(format!(r#"{{"n":{n}}}"#))
                    .time(DateTime::from_secs(1_700_000_000 + secs))
                    .build(),
            )
            .send()
            .await
            .expect("PutEvents");
    }
    eb.put_events()
        .entries(
            PutEventsRequestEntry::builder()
                .event_bus_name("eventmart-dev")
                .source("elsewhere")
                .detail_type("OrderPlaced")
                .detail("{}")
                .build(),
        )
        .send()
        .await
        .expect("PutEvents");
    bus.idle().await;
    assert_eq!(calls(&seen).len(), 6, "3 events x 2 rules");

    let archives = eb.list_archives().send().await.expect("ListArchives");
    let listed = &archives.archives()[0];
    assert_eq!(listed.archive_name(), Some("eventmart-dev-all"));
    assert_eq!(
        listed.event_count(),
        3,
        "the pattern keeps eventmart.* only"
    );
    assert_eq!(listed.retention_days(), Some(30));
    let described = eb
        .describe_archive()
        .archive_name("eventmart-dev-all")
        .send()
        .await
        .expect("DescribeArchive");
    let archive_arn = described.archive_arn().expect("arn").to_owned();
    assert_eq!(
        archive_arn,
        "arn:aws:events:us-east-1:123456789012:archive/eventmart-dev-all"
    );
    assert_eq!(
        described.event_pattern(),
        Some(r#"{"source":[{"prefix":"eventmart."}]}"#)
    );

    let bus_arn = "arn:aws:events:us-east-1:123456789012:event-bus/eventmart-dev";
    let ingestion_rule = "arn:aws:events:us-east-1:123456789012:rule/eventmart-dev/ToIngestion";
    let replay = |name: &str, from: i64, to: i64, dest: &str, filter: &[&str]| {
        let mut d = ReplayDestination::builder().arn(dest);
        for f in filter {
            d = d.filter_arns(*f);
        }
        eb.start_replay()
            .replay_name(name)
            .event_source_arn(&archive_arn)
            .event_start_time(DateTime::from_secs(1_700_000_000 + from))
            .event_end_time(DateTime::from_secs(1_700_000_000 + to))
            .destination(d.build().expect("arn set"))
            .send()
    };
    // [50, 300): the events at 100 and 200, to the ingestion rule only.
    let started = replay("fix-1", 50, 300, bus_arn, &[ingestion_rule])
        .await
        .expect("StartReplay");
    assert_eq!(started.state(), Some(&ReplayState::Completed));
    bus.idle().await;
    let replayed: Vec<(String, Value)> = calls(&seen)
        .into_iter()
        .filter(|(_, e)| e["replay-name"] == "fix-1")
        .collect();
    let got: Vec<(&str, &Value)> = replayed
        .iter()
        .map(|(f, e)| (f.as_str(), &e["detail"]["n"]))
        .collect();
    assert_eq!(
        got,
        [
            ("Ingestion", &Value::from(2)),
            ("Ingestion", &Value::from(3))
        ],
        "oldest first, to the filtered rule only"
    );
    let described = eb
        .describe_replay()
        .replay_name("fix-1")
        .send()
        .await
        .expect("DescribeReplay");
    assert_eq!(described.state(), Some(&ReplayState::Completed));
    assert_eq!(
        described.event_last_replayed_time(),
        Some(&DateTime::from_secs(1_700_000_200))
    );
    assert_eq!(
        described.destination().map(|d| d.filter_arns()),
        Some(&[ingestion_rule.to_owned()][..])
    );
    let listed = eb.list_replays().send().await.expect("ListReplays");
    assert_eq!(listed.replays().len(), 1);

    // AWS's errors.
    let other = "arn:aws:events:us-east-1:123456789012:event-bus/other";
    let no_rule = format!("{bus_arn}x");
    for (name, from, dest, filter, expected) in [
        ("fix-1", 0, bus_arn, None, "ResourceAlreadyExistsException"),
        ("cross", 0, other, None, "ValidationException"),
        ("empty", 10, bus_arn, None, "ValidationException"),
        ("backwards", 20, bus_arn, None, "ValidationException"),
        (
            "no-rule",
            0,
            bus_arn,
            Some(no_rule.as_str()),
            "ValidationException",
        ),
    ] {
        let filter: Vec<&str> = filter.into_iter().collect();
        let err = replay(name, from, 10, dest, &filter).await.expect_err(name);
        assert_eq!(code(&err).as_deref(), Some(expected), "{name}");
    }
    let err = eb
        .describe_archive()
        .archive_name("nope")
        .send()
        .await
        .expect_err("unknown archive");
    assert_eq!(code(&err).as_deref(), Some("ResourceNotFoundException"));
    let err = eb
        .cancel_replay()
        .replay_name("fix-1")
        .send()
        .await
        .expect_err("a completed replay cannot be cancelled");
    assert_eq!(code(&err).as_deref(), Some("IllegalStatusException"));
    assert_eq!(
        calls(&seen).len(),
        8,
        "failed StartReplays replayed nothing; replays are not archived again"
    );
    assert_eq!(bus.archive().len(), 3);
    bus.stop().await;
}
