//! Asynchronous delivery: routing, EventBridge retries and the rule's dead-letter queue,
//! Lambda async retries and the on-failure destination, chaos, archive and replay.
//! SQS is the moto server of scripts/with-moto.sh (AWS_ENDPOINT_URL).

#[path = "eventbridge_support.rs"]
mod support;

use chrono::{TimeZone, Utc};
use eventmart_local::chaos::Chaos;
use eventmart_local::eventbridge::{
    ArchiveSpec, AsyncInvoke, Bus, BusOptions, BusSpec, Destination, PutEventsEntry,
    PutRecordError, RecordSink, ReplayRequest, RetryPolicy, RuleSpec, TargetSpec,
    transform::TargetInput,
};
use eventmart_local::lambda::{InvokeError, Invoker};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use support::*;

const BUS: &str = "eventmart-dev";

fn entry(detail_type: &str, n: u32) -> PutEventsEntry {
    PutEventsEntry {
        source: Some("eventmart.orders".into()),
        detail_type: Some(detail_type.into()),
        detail: Some(json!({"n": n}).to_string()),
        event_bus_name: Some(BUS.into()),
        ..PutEventsEntry::default()
    }
}

fn rule(name: &str, pattern: &str, target: TargetSpec) -> RuleSpec {
    RuleSpec::parse(name, BUS, pattern, target).expect("pattern")
}

async fn start(
    rules: Vec<RuleSpec>,
    invoker: Arc<dyn Invoker>,
    sqs: aws_sdk_sqs::Client,
    options: BusOptions,
) -> Bus {
    Bus::start(
        vec![BusSpec::new(BUS)],
        rules,
        invoker,
        sqs,
        options,
        loopback(),
    )
    .await
    .expect("bus starts")
}

/// A bus whose one rule `Placed` sends OrderPlaced to `target`, after one OrderPlaced
/// (`n` 7) was put and delivered; with that event's id.
async fn one_order_placed(
    target: TargetSpec,
    invoker: Arc<dyn Invoker>,
    sqs: &aws_sdk_sqs::Client,
) -> (Bus, String) {
    let bus = start(
        vec![rule("Placed", r#"{"detail-type":["OrderPlaced"]}"#, target)],
        invoker,
        sqs.clone(),
        options(),
    )
    .await;
    let id = bus
        .put_events(vec![entry("OrderPlaced", 7)])
        .expect("valid")[0]
        .clone()
        .expect("accepted");
    bus.idle().await;
    (bus, id)
}

fn boom() -> InvokeError {
    InvokeError::Function {
        error_type: "PaymentError".into(),
        message: "card declined".into(),
    }
}

#[tokio::test]
async fn events_reach_only_the_targets_whose_pattern_matches() {
    let (invoker, seen) = recording(|_, _| async { Ok(Value::Null) });
    let rules = vec![
        rule(
            "Placed",
            r#"{"detail-type":["OrderPlaced"]}"#,
            TargetSpec::new("A"),
        ),
        rule(
            "Big",
            r#"{"detail":{"n":[{"numeric":[">=",10]}]}}"#,
            TargetSpec::new("B"),
        ),
        rule(
            "All",
            r#"{"source":[{"prefix":"eventmart."}]}"#,
            TargetSpec::new("C"),
        ),
    ];
    let bus = start(rules, invoker, offline_sqs(), options()).await;
    let ids = bus
        .put_events(vec![entry("OrderPlaced", 1), entry("OrderCanceled", 10)])
        .expect("valid");
    let placed = ids[0].clone().expect("accepted");
    let canceled = ids[1].clone().expect("accepted");
    bus.idle().await;
    let mut got: Vec<(String, String)> = calls(&seen)
        .into_iter()
        .map(|(f, e)| (f, e["id"].as_str().unwrap_or_default().to_owned()))
        .collect();
    got.sort();
    let mut want = vec![
        ("A".to_owned(), placed.clone()),
        ("B".to_owned(), canceled.clone()),
        ("C".to_owned(), placed),
        ("C".to_owned(), canceled),
    ];
    want.sort();
    assert_eq!(got, want);
    let c = bus.counters();
    assert_eq!(
        (c.deliveries, c.delivered, c.retried, c.dead_lettered),
        (4, 4, 0, 0)
    );
    bus.stop().await;
}

#[tokio::test]
async fn a_function_that_always_fails_ends_in_its_on_failure_queue() {
    let sqs = sqs().await;
    let on_failure = queue(&sqs, "on-failure").await;
    let (invoker, seen) = recording(|_, _| async { Err(boom()) });
    let mut r = rule(
        "Placed",
        r#"{"detail-type":["OrderPlaced"]}"#,
        TargetSpec::new("Payments"),
    );
    r.async_invoke = AsyncInvoke {
        max_retry_attempts: 2,
        max_event_age: Duration::from_secs(3600),
        on_failure_queue_url: Some(on_failure.clone()),
        ..AsyncInvoke::default()
    };
    let bus = start(vec![r], invoker, sqs.clone(), options()).await;
    let id = bus
        .put_events(vec![entry("OrderPlaced", 1)])
        .expect("valid")[0]
        .clone()
        .expect("accepted");
    bus.idle().await;
    assert_eq!(calls(&seen).len(), 3, "the first invocation and 2 retries");
    let msgs = drain(&sqs, &on_failure).await;
    assert_eq!(msgs.len(), 1);
    let rec = &msgs[0].0;
    assert_eq!(rec["version"], "1.0");
    assert!(rec["timestamp"].is_string());
    assert_eq!(rec["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(rec["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(
        rec["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:Payments:$LATEST"
    );
    assert_eq!(rec["requestPayload"]["id"], id.as_str());
    assert_eq!(rec["responseContext"]["functionError"], "Unhandled");
    assert_eq!(rec["responsePayload"]["errorType"], "PaymentError");
    assert_eq!(rec["responsePayload"]["errorMessage"], "card declined");
    let c = bus.counters();
    assert_eq!((c.retried, c.dead_lettered, c.delivered), (2, 1, 0));
    let log = bus.delivery_log();
    assert_eq!(log.len(), 3);
    assert!(
        log[2].human().contains("dead-lettered"),
        "{}",
        log[2].human()
    );
    bus.stop().await;
}

#[tokio::test]
async fn an_event_too_old_to_retry_goes_to_the_on_failure_queue() {
    let sqs = sqs().await;
    let on_failure = queue(&sqs, "on-failure").await;
    let (invoker, seen) =
        recording(|_, _| async { Err(InvokeError::Timeout(Duration::from_secs(10))) });
    let mut r = rule(
        "Placed",
        r#"{"detail-type":["OrderPlaced"]}"#,
        TargetSpec::new("Slow"),
    );
    r.async_invoke = AsyncInvoke {
        max_retry_attempts: 2,
        max_event_age: Duration::ZERO,
        on_failure_queue_url: Some(on_failure.clone()),
        ..AsyncInvoke::default()
    };
    let bus = start(vec![r], invoker, sqs.clone(), options()).await;
    bus.put_events(vec![entry("OrderPlaced", 1)])
        .expect("valid");
    bus.idle().await;
    assert_eq!(calls(&seen).len(), 1);
    let msgs = drain(&sqs, &on_failure).await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].0["requestContext"]["condition"], "EventAgeExceeded");
    assert_eq!(
        msgs[0].0["responsePayload"]["errorType"],
        "Sandbox.Timedout"
    );
    bus.stop().await;
}

#[tokio::test]
async fn a_target_that_does_not_exist_goes_to_the_rule_dead_letter_queue() {
    let sqs = sqs().await;
    let dlq = queue(&sqs, "delivery-dlq").await;
    let (invoker, seen) = recording(|f, _| async move { Err(InvokeError::NoSuchFunction(f)) });
    let target = TargetSpec {
        id: "GhostTarget".into(),
        destination: Destination::Lambda("Ghost".into()),
        input: TargetInput::Whole,
        retry: RetryPolicy {
            max_attempts: 3,
            max_event_age: Duration::from_secs(3600),
        },
        dead_letter_queue_url: Some(dlq.clone()),
    };
    let (bus, id) = one_order_placed(target, invoker, &sqs).await;
    assert_eq!(calls(&seen).len(), 4, "the first attempt and 3 retries");
    let msgs = drain(&sqs, &dlq).await;
    assert_eq!(msgs.len(), 1);
    let (event, attrs) = &msgs[0];
    assert_eq!(event["id"], id.as_str());
    assert_eq!(event["detail"], json!({"n": 7}));
    assert_eq!(attrs["ERROR_CODE"], "ResourceNotFoundException");
    assert!(attrs["ERROR_MESSAGE"].contains("Ghost"), "{attrs:?}");
    assert_eq!(
        attrs["RULE_ARN"],
        "arn:aws:events:us-east-1:123456789012:rule/eventmart-dev/Placed"
    );
    assert_eq!(
        attrs["TARGET_ARN"],
        "arn:aws:lambda:us-east-1:123456789012:function:Ghost"
    );
    assert_eq!(attrs["RETRY_ATTEMPTS"], "3");
    let c = bus.counters();
    assert_eq!((c.retried, c.dead_lettered), (3, 1));
    bus.stop().await;
}

#[tokio::test]
async fn function_errors_are_retried_until_the_function_succeeds() {
    let sqs = sqs().await;
    let on_failure = queue(&sqs, "on-failure").await;
    let failures = Arc::new(AtomicU32::new(2));
    let started: Arc<std::sync::Mutex<Vec<std::time::Instant>>> = Arc::default();
    let times = started.clone();
    let (invoker, seen) = recording(move |_, _| {
        let failures = failures.clone();
        if let Ok(mut t) = times.lock() {
            t.push(std::time::Instant::now());
        }
        async move {
            let left = failures.load(Ordering::SeqCst);
            if left > 0 {
                failures.store(left - 1, Ordering::SeqCst);
                Err(InvokeError::Crashed("killed".into()))
            } else {
                Ok(json!({"ok": true}))
            }
        }
    });
    let mut r = rule(
        "Placed",
        r#"{"detail-type":["OrderPlaced"]}"#,
        TargetSpec::new("Flaky"),
    );
    r.async_invoke.on_failure_queue_url = Some(on_failure.clone());
    r.async_invoke.function_timeout = Duration::from_millis(300);
    let bus = start(vec![r], invoker, sqs.clone(), options()).await;
    bus.put_events(vec![entry("OrderPlaced", 1)])
        .expect("valid");
    bus.idle().await;
    assert_eq!(calls(&seen).len(), 3);
    assert!(drain(&sqs, &on_failure).await.is_empty());
    let c = bus.counters();
    assert_eq!((c.retried, c.delivered, c.dead_lettered), (2, 1, 0));
    // A failed run is retried only once its timeout has passed, as AWS's minute-long
    // retry delays guarantee: its in-progress state has expired by then.
    let t = started.lock().unwrap().clone();
    for pair in t.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(300),
            "{:?}",
            pair[1] - pair[0]
        );
    }
    bus.stop().await;
}

#[tokio::test]
async fn duplicates_chaos_delivers_two_to_ten_copies() {
    let (invoker, seen) = recording(|_, _| async { Ok(Value::Null) });
    let mut opts = options();
    opts.chaos = Chaos {
        duplicate_fraction: 1.0,
        max_copies: 10,
        ..Chaos::off()
    };
    let bus = start(
        vec![rule(
            "All",
            r#"{"source":["eventmart.orders"]}"#,
            TargetSpec::new("F"),
        )],
        invoker,
        offline_sqs(),
        opts,
    )
    .await;
    let entries: Vec<PutEventsEntry> = (0..10).map(|n| entry("OrderPlaced", n)).collect();
    let ids: Vec<String> = bus
        .put_events(entries)
        .expect("valid")
        .into_iter()
        .map(|r| r.expect("accepted"))
        .collect();
    bus.idle().await;
    let seen = calls(&seen);
    for id in &ids {
        let copies = seen.iter().filter(|(_, e)| e["id"] == id.as_str()).count();
        assert!((2..=10).contains(&copies), "{copies} copies of {id}");
    }
    assert_eq!(bus.counters().delivered as usize, seen.len());
    bus.stop().await;
}

#[tokio::test]
async fn reorder_chaos_releases_deliveries_out_of_order() {
    let (invoker, seen) = recording(|_, _| async { Ok(Value::Null) });
    let mut opts = options();
    opts.chaos = Chaos {
        reorder_window: Duration::from_millis(200),
        ..Chaos::off()
    };
    let bus = start(
        vec![rule(
            "All",
            r#"{"source":["eventmart.orders"]}"#,
            TargetSpec::new("F"),
        )],
        invoker,
        offline_sqs(),
        opts,
    )
    .await;
    // Four batches of ten, sent in order; with 40 random holds the odds of the same
    // order are 1/40!.
    for batch in 0..4 {
        let entries: Vec<PutEventsEntry> = (0..10)
            .map(|n| entry("OrderPlaced", batch * 10 + n))
            .collect();
        bus.put_events(entries).expect("valid");
    }
    bus.idle().await;
    let order: Vec<u64> = calls(&seen)
        .iter()
        .filter_map(|(_, e)| e["detail"]["n"].as_u64())
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, (0..40).collect::<Vec<u64>>(), "every event once");
    assert_ne!(order, sorted, "events arrived in the order sent");
    bus.stop().await;
}

#[tokio::test]
async fn the_archive_keeps_every_event_and_replays_a_time_range() {
    let (invoker, seen) = recording(|_, _| async { Ok(Value::Null) });
    let mut archive = ArchiveSpec::new("all-eventmart");
    archive.pattern = Some(
        eventmart_local::Pattern::parse(r#"{"source":[{"prefix":"eventmart."}]}"#)
            .expect("pattern"),
    );
    let spec = BusSpec::new(BUS).with_archive(archive);
    let bus = offline_bus(
        vec![spec],
        vec![rule(
            "Placed",
            r#"{"detail-type":["OrderPlaced"]}"#,
            TargetSpec::new("F"),
        )],
        invoker,
    )
    .await;
    // Events carry their time in whole seconds; replays select on it.
    let at = |secs: i64| Some(Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap());
    let mut foreign = entry("OrderPlaced", 0);
    foreign.source = Some("elsewhere".into());
    let mut early = vec![entry("OrderPlaced", 1), entry("OrderCanceled", 2), foreign];
    for e in &mut early {
        e.time = at(0);
    }
    bus.put_events(early).expect("valid");
    let mut late = entry("OrderPlaced", 3);
    late.time = at(1);
    bus.put_events(vec![late]).expect("valid");
    let middle = at(1).unwrap();
    bus.idle().await;
    assert_eq!(
        bus.archive().len(),
        3,
        "the archive pattern keeps eventmart.* only"
    );
    assert_eq!(
        calls(&seen).len(),
        3,
        "the rule matches on detail-type only"
    );

    let replay = bus
        .start_replay(ReplayRequest::new(
            "fix-1",
            "all-eventmart",
            middle - chrono::Duration::hours(1),
            middle,
        ))
        .expect("replay starts");
    assert_eq!(replay.events, 2, "two archived events fall in the range");
    assert_eq!(replay.state, "COMPLETED");
    let again = bus.start_replay(ReplayRequest::new(
        "fix-1",
        "all-eventmart",
        middle - chrono::Duration::hours(1),
        middle,
    ));
    assert_eq!(
        again.map_err(|e| e.code),
        Err("ResourceAlreadyExistsException".to_owned())
    );
    bus.idle().await;
    let seen = calls(&seen);
    assert_eq!(
        seen.len(),
        4,
        "only the OrderPlaced of the range matches the rule again"
    );
    let original = seen
        .iter()
        .map(|c| &c.1)
        .find(|e| e["detail"]["n"] == 1)
        .expect("original delivery");
    let replay = &seen[3].1;
    assert_eq!(replay["replay-name"], "fix-1");
    assert_eq!(replay["id"], original["id"]);
    assert_eq!(replay["detail"], json!({"n": 1}));
    assert_eq!(bus.archive().len(), 3, "replays are not archived again");
    let log = bus.delivery_log();
    assert_eq!(log.last().and_then(|l| l.replay.as_deref()), Some("fix-1"));
    bus.stop().await;
}

fn transformer(template: &str) -> TargetInput {
    TargetInput::from_target(&json!({"InputTransformer": {
        "InputPathsMap": {"n": "$.detail.n", "type": "$.detail-type"},
        "InputTemplate": template,
    }}))
    .expect("a valid transformer")
}

#[tokio::test]
async fn a_function_gets_what_its_input_transformer_makes_of_the_event() {
    let (invoker, seen) = recording(|_, _| async { Ok(Value::Null) });
    let mut target = TargetSpec::new("A");
    target.input = transformer(r#"{"count": <n>, "kind": <type>, "rule": <aws.events.rule-name>}"#);
    let (bus, _) = one_order_placed(target, invoker, &sqs().await).await;
    let got: Vec<Value> = calls(&seen)
        .into_iter()
        .map(|(_, payload)| payload)
        .collect();
    assert_eq!(
        got,
        [json!({"count": 7, "kind": "OrderPlaced", "rule": "Placed"})]
    );
    bus.stop().await;
}

#[tokio::test]
async fn text_a_function_cannot_take_goes_to_the_dead_letter_queue_with_the_reason() {
    let sqs = sqs().await;
    let dlq = queue(&sqs, "text-dlq").await;
    let (invoker, seen) = recording(|_, _| async { Ok(Value::Null) });
    let mut target = TargetSpec::new("A");
    target.input = transformer("order <n> is <type>");
    target.dead_letter_queue_url = Some(dlq.clone());
    let (bus, id) = one_order_placed(target, invoker, &sqs).await;
    assert!(calls(&seen).is_empty(), "the function is never invoked");
    let msgs = drain(&sqs, &dlq).await;
    assert_eq!(msgs.len(), 1);
    let (event, attrs) = &msgs[0];
    // The dead letter is the event as matched, not the text.
    assert_eq!(event["id"], id.as_str());
    assert_eq!(attrs["ERROR_CODE"], "InvalidRequestContentException");
    assert!(attrs["ERROR_MESSAGE"].contains("not JSON"), "{attrs:?}");
    bus.stop().await;
}

/// A Firehose stand-in: records what was put, or refuses.
struct Sink {
    records: std::sync::Mutex<Vec<(String, String)>>,
    refuse: bool,
}

impl RecordSink for Sink {
    fn put_record(
        &self,
        stream: &str,
        data: Vec<u8>,
    ) -> eventmart_local::lambda::BoxFuture<'_, Result<(), PutRecordError>> {
        let stream = stream.to_owned();
        Box::pin(async move {
            if self.refuse {
                return Err(PutRecordError::NoSuchStream(stream));
            }
            let text = String::from_utf8(data).expect("UTF-8");
            self.records.lock().unwrap().push((stream, text));
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_firehose_target_gets_the_transformed_text_and_a_refusal_is_dead_lettered() {
    let sqs = sqs().await;
    let dlq = queue(&sqs, "firehose-dlq").await;
    let (invoker, seen) = recording(|_, _| async { Ok(Value::Null) });
    let target = |id: &str| TargetSpec {
        id: id.into(),
        destination: Destination::Firehose("lake".into()),
        input: transformer(r#"{"n": <n>, "type": <type>}"#),
        retry: RetryPolicy {
            max_attempts: 2,
            max_event_age: Duration::from_secs(3600),
        },
        dead_letter_queue_url: Some(dlq.clone()),
    };
    for refuse in [false, true] {
        let sink = Arc::new(Sink {
            records: Default::default(),
            refuse,
        });
        let mut o = options();
        o.streams = Some(sink.clone());
        let bus = start(
            vec![rule(
                "Lake",
                r#"{"detail-type":["OrderPlaced"]}"#,
                target("lake"),
            )],
            invoker.clone(),
            sqs.clone(),
            o,
        )
        .await;
        bus.put_events(vec![entry("OrderPlaced", 3)])
            .expect("valid");
        bus.idle().await;
        let msgs = drain(&sqs, &dlq).await;
        if refuse {
            assert_eq!(
                msgs.len(),
                1,
                "dead-lettered after the first attempt and 2 retries"
            );
            let attrs = &msgs[0].1;
            assert_eq!(attrs["ERROR_CODE"], "ResourceNotFoundException");
            assert_eq!(attrs["RETRY_ATTEMPTS"], "2");
            assert_eq!(
                attrs["TARGET_ARN"],
                "arn:aws:firehose:us-east-1:123456789012:deliverystream/lake"
            );
            assert_eq!(bus.counters().retried, 2);
        } else {
            assert!(msgs.is_empty());
            let records = sink.records.lock().unwrap().clone();
            // Minified, as EventBridge passes JSON on.
            assert_eq!(
                records,
                [(
                    "lake".to_owned(),
                    r#"{"n":3,"type":"OrderPlaced"}"#.to_owned()
                )]
            );
        }
        bus.stop().await;
    }
    assert!(calls(&seen).is_empty(), "no function is involved");
}
