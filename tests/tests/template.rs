//! Invariants of template.yaml that a deploy would only reveal in production: every
//! function builds from a binary of this workspace, every rule target retries and has a
//! dead-letter queue, every queue has an alarm, every stream mapping reports batch item
//! failures and filters to outbox items. Read from the local stack's model of the
//! template (Globals merged, intrinsics resolved); build metadata and alarms, which the
//! model leaves out, from the raw YAML.

use eventmart_local::template::Architecture;
use eventmart_tests::{repo_root, stack, template_yaml};
use serde_yaml::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// The raw resources of one type.
fn resources(t: &Value, ty: &str) -> Vec<(String, Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(ty))
        .map(|(k, r)| (k.as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// The logical id a raw `!Ref X` / `!GetAtt X.Attr` points at.
fn target(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) => t
            .value
            .as_str()
            .map(|s| s.split('.').next().unwrap_or(s).to_owned()),
        _ => None,
    }
}

fn queues() -> BTreeSet<String> {
    stack()
        .queues
        .iter()
        .map(|q| q.logical_id.clone())
        .collect()
}

fn workspace_binaries() -> BTreeSet<String> {
    let mut bins = BTreeSet::new();
    for dir in std::fs::read_dir(repo_root().join("functions")).unwrap() {
        let manifest = dir.unwrap().path().join("Cargo.toml");
        let text = std::fs::read_to_string(manifest).unwrap();
        for line in text.lines().skip_while(|l| l.trim() != "[[bin]]") {
            if let Some(name) = line.strip_prefix("name = ") {
                bins.insert(name.trim_matches('"').to_owned());
                break;
            }
        }
    }
    bins
}

#[test]
fn every_function_is_a_workspace_binary_built_with_cargo_lambda() {
    let t = template_yaml();
    for (id, f) in resources(&t, "AWS::Serverless::Function") {
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{id}"
        );
    }
    let model = stack();
    assert_eq!(
        model.functions.len(),
        resources(&t, "AWS::Serverless::Function").len()
    );
    let built: BTreeSet<String> = model.functions.iter().map(|f| f.binary.clone()).collect();
    assert_eq!(built, workspace_binaries());
    for f in &model.functions {
        let id = &f.logical_id;
        assert_eq!(f.runtime, "provided.al2023", "{id}");
        assert_eq!(f.architecture, Architecture::Arm64, "{id}");
        let logging = f.logging.as_ref().expect("LoggingConfig");
        assert_eq!(logging.log_format.as_deref(), Some("JSON"), "{id}");
    }
    assert_eq!(t["Globals"]["Function"]["MemorySize"].as_u64(), Some(128));
}

#[test]
fn every_rule_target_retries_then_dead_letters_and_every_consumer_has_an_on_failure_queue() {
    let model = stack();
    let queues = queues();
    let bus = &model
        .buses
        .iter()
        .find(|b| b.logical_id == "EventBus")
        .expect("EventBus")
        .name;
    for r in &model.rules {
        let at = format!("{:?}.{}", r.target, r.event);
        assert_eq!(
            r.retry_policy.maximum_event_age,
            Duration::from_secs(86400),
            "{at}"
        );
        let dlq = r.dead_letter_queue.as_ref().expect("rule DLQ");
        assert!(queues.contains(dlq), "{at}: {dlq}");
        assert_eq!(&r.bus, bus, "{at}: rules are on our bus");
    }
    assert!(model.rules.len() >= 4);
    let consumers: BTreeSet<&str> = model.rules.iter().filter_map(|r| r.function()).collect();
    for id in consumers {
        let f = model.function(id).expect("a rule targets a function");
        assert_eq!(f.async_config.maximum_retry_attempts, 2, "{id}");
        let on_failure = f
            .async_config
            .on_failure_queue
            .as_ref()
            .expect("on-failure");
        assert!(queues.contains(on_failure), "{id}");
        let url = &model.queue(on_failure).expect("on-failure queue").url;
        assert_eq!(
            f.environment.get("DEAD_LETTER_QUEUE_URL"),
            Some(url),
            "{id}: permanent errors go to the same queue"
        );
    }
}

#[test]
fn every_queue_has_an_alarm() {
    // Alarms have no local effect: the model lists them without their properties.
    let t = template_yaml();
    let alarmed: BTreeSet<String> = resources(&t, "AWS::CloudWatch::Alarm")
        .iter()
        .filter_map(|(_, a)| target(&a["Properties"]["Dimensions"][0]["Value"]))
        .collect();
    assert_eq!(alarmed, queues());
}

#[test]
fn stream_mappings_relay_only_outbox_inserts_and_report_item_failures() {
    let model = stack();
    let mut streams = BTreeSet::new();
    for m in &model.stream_mappings {
        let at = format!("{}.{}", m.function, m.event);
        streams.insert(m.table.clone());
        assert!(m.report_batch_item_failures, "{at}");
        assert!(m.bisect_batch_on_function_error, "{at}");
        assert!(m.on_failure_queue.is_some(), "{at}");
        let pattern: serde_json::Value = serde_json::from_str(&m.filters[0].pattern).unwrap();
        assert_eq!(
            pattern,
            serde_json::json!({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": [eventmart_shared::outbox::KIND]}}}}),
            "{at}"
        );
    }
    // Every table with a stream is relayed, and only those.
    let with_stream: BTreeSet<String> = model
        .tables
        .iter()
        .filter(|t| t.stream_view_type.is_some())
        .map(|t| t.logical_id.clone())
        .collect();
    assert_eq!(streams, with_stream);
}

#[test]
fn every_outbox_table_expires_outbox_items() {
    // outbox::put sets `expiresAt`: a table with a stream (an outbox) must expire on it.
    for t in stack()
        .tables
        .iter()
        .filter(|t| t.stream_view_type.is_some())
    {
        assert_eq!(
            t.ttl_attribute.as_deref(),
            Some(eventmart_shared::outbox::attr::EXPIRES_AT),
            "{}",
            t.logical_id
        );
    }
}
