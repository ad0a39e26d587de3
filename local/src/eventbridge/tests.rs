use super::*;
use crate::aws::queue_arn;
use crate::lambda::{BoxFuture, InvokeError};
use serde_json::json;

/// Records every invocation; fails the functions named in `failing`.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(String, Value)>>,
}

impl Invoker for Recorder {
    fn invoke(&self, function: &str, payload: Value) -> BoxFuture<'_, Result<Value, InvokeError>> {
        let function = function.to_owned();
        Box::pin(async move {
            if let Ok(mut c) = self.calls.lock() {
                c.push((function.clone(), payload));
            }
            if function == "Missing" {
                Err(InvokeError::NoSuchFunction(function))
            } else {
                Ok(Value::Null)
            }
        })
    }
}

/// An SQS client that is never used (no queue configured): it sends nothing.
fn offline_sqs() -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

fn quiet() -> BusOptions {
    BusOptions {
        timing: Timing::fast(),
        log: LogMode::Quiet,
        ..BusOptions::default()
    }
}

fn entry(source: &str, detail_type: &str, detail: &str) -> PutEventsEntry {
    PutEventsEntry {
        source: Some(source.into()),
        detail_type: Some(detail_type.into()),
        detail: Some(detail.into()),
        event_bus_name: Some("b".into()),
        ..PutEventsEntry::default()
    }
}

async fn bus(rules: Vec<RuleSpec>, recorder: Arc<Recorder>) -> Bus {
    Bus::start(
        vec![BusSpec::new("b").with_archive(ArchiveSpec::new("all"))],
        rules,
        recorder,
        offline_sqs(),
        quiet(),
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
    )
    .await
    .expect("bus starts")
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let t = Timing {
        backoff_base: Duration::from_millis(100),
        backoff_cap: Duration::from_millis(1000),
        async_retry_delays: vec![Duration::from_secs(60), Duration::from_secs(120)],
    };
    for _ in 0..50 {
        let d0 = t.backoff(0);
        assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(100));
        let d3 = t.backoff(3);
        assert!(d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(800));
        assert!(t.backoff(40) <= Duration::from_millis(1000));
    }
    assert_eq!(t.async_delay(1), Duration::from_secs(60));
    assert_eq!(t.async_delay(2), Duration::from_secs(120));
    assert_eq!(t.async_delay(5), Duration::from_secs(120));
    assert_eq!(Timing::fast().async_delay(1), Duration::from_millis(60));
}

#[test]
fn queue_arn_comes_from_the_url() {
    assert_eq!(
        queue_arn("us-east-1", "http://127.0.0.1:5000/123456789012/OrdersDLQ"),
        "arn:aws:sqs:us-east-1:123456789012:OrdersDLQ"
    );
}

#[tokio::test]
async fn start_rejects_a_rule_on_an_unknown_bus_and_duplicate_rules() {
    let r = Arc::new(Recorder::default());
    let rule = |bus: &str| {
        RuleSpec::parse("R", bus, r#"{"source":["a"]}"#, TargetSpec::new("F")).expect("pattern")
    };
    let err = Bus::start(
        vec![BusSpec::new("b")],
        vec![rule("nope")],
        r.clone(),
        offline_sqs(),
        quiet(),
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
    )
    .await
    .err();
    assert!(matches!(err, Some(BusError::UnknownBus { .. })), "{err:?}");
    let err = Bus::start(
        vec![BusSpec::new("b")],
        vec![rule("b"), rule("b")],
        r,
        offline_sqs(),
        quiet(),
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
    )
    .await
    .err();
    assert!(
        matches!(err, Some(BusError::DuplicateRule { .. })),
        "{err:?}"
    );
    let err = Bus::start(
        vec![
            BusSpec::new("b").with_archive(ArchiveSpec::new("all")),
            BusSpec::new("c").with_archive(ArchiveSpec::new("all")),
        ],
        Vec::new(),
        Arc::new(Recorder::default()),
        offline_sqs(),
        quiet(),
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
    )
    .await
    .err();
    assert!(
        matches!(err, Some(BusError::DuplicateArchive { .. })),
        "archive names are unique per account and region: {err:?}"
    );
}

#[tokio::test]
async fn put_events_validates_entries_and_routes_accepted_ones() {
    let r = Arc::new(Recorder::default());
    let rule = RuleSpec::parse(
        "Orders",
        "b",
        r#"{"source":["eventmart.orders"],"detail":{"n":[{"numeric":[">",1]}]}}"#,
        TargetSpec::new("F"),
    )
    .expect("pattern");
    let bus = bus(vec![rule], r.clone()).await;
    assert_eq!(
        bus.put_events(vec![]).err().map(|e| e.code),
        Some("ValidationException".to_owned())
    );
    let eleven = vec![entry("s", "d", "{}"); 11];
    assert_eq!(
        bus.put_events(eleven).err().map(|e| e.code),
        Some("ValidationException".to_owned())
    );
    let big = "x".repeat(MAX_REQUEST_BYTES);
    let too_big = vec![entry("s", "d", &format!("{{\"a\":\"{big}\"}}"))];
    assert!(bus.put_events(too_big).is_err());

    let mut no_source = entry("s", "d", "{}");
    no_source.source = None;
    let mut other_bus = entry("eventmart.orders", "X", r#"{"n":2}"#);
    other_bus.event_bus_name = Some("arn:aws:events:us-east-1:123456789012:event-bus/nope".into());
    let results = bus
        .put_events(vec![
            entry("eventmart.orders", "OrderPlaced", r#"{"n":2}"#),
            no_source,
            entry("eventmart.orders", "OrderPlaced", "[1]"),
            entry("eventmart.orders", "OrderPlaced", "not json"),
            other_bus,
            entry("eventmart.orders", "OrderPlaced", r#"{"n":1}"#),
        ])
        .expect("request is valid");
    let codes: Vec<Option<&str>> = results
        .iter()
        .map(|r| r.as_ref().err().map(|e| e.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            None,
            Some("InvalidArgument"),
            Some("MalformedDetail"),
            Some("MalformedDetail"),
            Some("InvalidArgument"),
            None
        ]
    );
    bus.idle().await;
    let calls = r.calls.lock().expect("lock").clone();
    // Only the first accepted event matches (n > 1).
    assert_eq!(calls.len(), 1);
    let event = &calls[0].1;
    assert_eq!(event["id"], json!(results[0].as_ref().expect("id")));
    assert_eq!(event["version"], "0");
    assert_eq!(event["detail-type"], "OrderPlaced");
    assert_eq!(event["account"], crate::aws::ACCOUNT_ID);
    assert_eq!(event["region"], crate::aws::REGION);
    assert_eq!(event["resources"], json!([]));
    assert_eq!(event["detail"], json!({"n": 2}));
    assert!(event["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    let c = bus.counters();
    assert_eq!((c.events_accepted, c.deliveries, c.delivered), (2, 1, 1));
    assert_eq!(bus.archive().len(), 2);
    bus.stop().await;
}

#[tokio::test]
async fn a_missing_function_without_a_dead_letter_queue_is_dropped_after_retries() {
    let r = Arc::new(Recorder::default());
    let mut target = TargetSpec::new("Missing");
    target.retry.max_attempts = 3;
    let rule = RuleSpec::parse("R", "b", r#"{"source":["s"]}"#, target).expect("pattern");
    let bus = bus(vec![rule], r.clone()).await;
    bus.put_events(vec![entry("s", "d", "{}")]).expect("valid");
    bus.idle().await;
    // The first attempt and 3 retries.
    assert_eq!(r.calls.lock().expect("lock").len(), 4);
    let c = bus.counters();
    assert_eq!((c.retried, c.dropped, c.delivered), (3, 1, 0));
    let log = bus.delivery_log();
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|l| l.stage == Stage::Delivery));
    assert!(matches!(log[3].outcome, Outcome::Dropped(_)));
    assert!(log[3].human().contains("dropped"));
    bus.stop().await;
}

#[test]
fn log_lines_name_event_rule_target_attempt_and_outcome() {
    let rec = DeliveryRecord {
        event_id: "e1".into(),
        detail_type: "OrderPlaced".into(),
        rule: "Orders".into(),
        target: "FulfillmentFunction".into(),
        stage: Stage::Invoke,
        attempt: 2,
        outcome: Outcome::Retrying("Boom: no".into()),
        replay: None,
    };
    assert_eq!(
        rec.human(),
        "bus OrderPlaced e1 rule=Orders target=FulfillmentFunction invoke#2 error: Boom: no"
    );
    let j = rec.json();
    assert_eq!(j["eventId"], "e1");
    assert_eq!(j["attempt"], 2);
    assert_eq!(j["outcome"], "error");
    assert_eq!(j["error"], "Boom: no");
}

#[tokio::test]
async fn events_past_their_archives_retention_are_dropped() {
    let r = Arc::new(Recorder::default());
    let mut kept_a_day = ArchiveSpec::new("day");
    kept_a_day.retention_days = Some(1);
    let bus = Bus::start(
        vec![
            BusSpec::new("b")
                .with_archive(kept_a_day)
                .with_archive(ArchiveSpec::new("forever")),
        ],
        Vec::new(),
        r,
        offline_sqs(),
        quiet(),
        "127.0.0.1:0".parse::<SocketAddr>().expect("addr"),
    )
    .await
    .expect("bus starts");
    bus.put_events(vec![entry("s", "d", "{}")]).expect("valid");
    assert_eq!(bus.archive().len(), 2, "one copy per archive");
    // Received two days ago (the bus keeps archives in memory; age them by hand).
    for e in bus.inner.archive.lock().expect("lock").iter_mut() {
        e.received -= chrono::Duration::days(2);
    }
    let names: Vec<String> = bus.archive().into_iter().map(|e| e.archive).collect();
    assert_eq!(names, ["forever"]);
    bus.stop().await;
}

#[tokio::test]
async fn a_disabled_rule_is_listed_as_disabled_and_matches_nothing() {
    let r = Arc::new(Recorder::default());
    let mut off =
        RuleSpec::parse("Off", "b", r#"{"source":["s"]}"#, TargetSpec::new("F")).expect("pattern");
    off.enabled = false;
    let on =
        RuleSpec::parse("On", "b", r#"{"source":["s"]}"#, TargetSpec::new("G")).expect("pattern");
    let bus = bus(vec![off, on], r.clone()).await;
    bus.put_events(vec![entry("s", "d", "{}")]).expect("valid");
    bus.idle().await;
    let called: Vec<String> = r
        .calls
        .lock()
        .expect("lock")
        .iter()
        .map(|c| c.0.clone())
        .collect();
    assert_eq!(called, ["G"]);
    let listed = api::dispatch(
        &bus.inner,
        "AWSEvents.ListRules",
        br#"{"EventBusName":"b"}"#,
    )
    .expect("ListRules");
    let states: Vec<(&str, &str)> = listed["Rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                r["Name"].as_str().expect("name"),
                r["State"].as_str().expect("state"),
            )
        })
        .collect();
    assert_eq!(states, [("Off", "DISABLED"), ("On", "ENABLED")]);
    bus.stop().await;
}
