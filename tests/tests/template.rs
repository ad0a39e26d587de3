//! Invariants of template.yaml that a deploy would only reveal in production: every
//! function builds from a binary of this workspace, every rule target retries and has a
//! dead-letter queue, every queue has an alarm, every stream mapping reports batch item
//! failures and filters to outbox items.

use eventmart_tests::repo_root;
use serde_yaml::Value;
use std::collections::BTreeSet;

fn template() -> Value {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn resources(t: &Value, ty: &str) -> Vec<(String, Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(ty))
        .map(|(k, r)| (k.as_str().unwrap().to_owned(), r.clone()))
        .collect()
}

/// The logical id a `!Ref X` / `!GetAtt X.Attr` points at.
fn target(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) => t
            .value
            .as_str()
            .map(|s| s.split('.').next().unwrap_or(s).to_owned()),
        _ => None,
    }
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
    let t = template();
    let functions = resources(&t, "AWS::Serverless::Function");
    let built: BTreeSet<String> = functions
        .iter()
        .map(|(id, f)| {
            assert_eq!(
                f["Metadata"]["BuildMethod"].as_str(),
                Some("rust-cargolambda"),
                "{id}"
            );
            f["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(built, workspace_binaries());
    let g = &t["Globals"]["Function"];
    assert_eq!(g["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(g["Architectures"][0].as_str(), Some("arm64"));
    assert_eq!(g["MemorySize"].as_u64(), Some(128));
    assert_eq!(g["LoggingConfig"]["LogFormat"].as_str(), Some("JSON"));
}

#[test]
fn every_rule_target_retries_then_dead_letters_and_every_consumer_has_an_on_failure_queue() {
    let t = template();
    let queues: BTreeSet<String> = resources(&t, "AWS::SQS::Queue")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut rules = 0;
    for (id, f) in resources(&t, "AWS::Serverless::Function") {
        let events = f["Properties"]["Events"].as_mapping().unwrap();
        let consumes = events
            .values()
            .any(|e| e["Type"].as_str() == Some("EventBridgeRule"));
        for (name, e) in events {
            if e["Type"].as_str() != Some("EventBridgeRule") {
                continue;
            }
            rules += 1;
            let p = &e["Properties"];
            assert_eq!(
                p["RetryPolicy"]["MaximumEventAgeInSeconds"].as_u64(),
                Some(86400),
                "{id}.{name:?}"
            );
            let dlq = target(&p["DeadLetterConfig"]["Arn"]).expect("rule DLQ");
            assert!(queues.contains(&dlq), "{id}.{name:?}: {dlq}");
            assert!(
                target(&p["EventBusName"]).as_deref() == Some("EventBus"),
                "{id}: rules are on our bus"
            );
        }
        if consumes {
            let invoke = &f["Properties"]["EventInvokeConfig"];
            assert_eq!(invoke["MaximumRetryAttempts"].as_u64(), Some(2), "{id}");
            let on_failure = target(&invoke["DestinationConfig"]["OnFailure"]["Destination"])
                .expect("on-failure");
            assert!(queues.contains(&on_failure), "{id}");
            let env = &f["Properties"]["Environment"]["Variables"];
            assert_eq!(
                target(&env["DEAD_LETTER_QUEUE_URL"]),
                Some(on_failure),
                "{id}: permanent errors go to the same queue"
            );
        }
    }
    assert!(rules >= 4);
}

#[test]
fn every_queue_has_an_alarm() {
    let t = template();
    let alarmed: BTreeSet<String> = resources(&t, "AWS::CloudWatch::Alarm")
        .iter()
        .filter_map(|(_, a)| target(&a["Properties"]["Dimensions"][0]["Value"]))
        .collect();
    let queues: BTreeSet<String> = resources(&t, "AWS::SQS::Queue")
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(alarmed, queues);
}

#[test]
fn stream_mappings_relay_only_outbox_inserts_and_report_item_failures() {
    let t = template();
    let mut streams = BTreeSet::new();
    for (_, f) in resources(&t, "AWS::Serverless::Function") {
        for (_, e) in f["Properties"]["Events"].as_mapping().unwrap() {
            if e["Type"].as_str() != Some("DynamoDB") {
                continue;
            }
            let p = &e["Properties"];
            streams.insert(target(&p["Stream"]).unwrap());
            assert_eq!(
                p["FunctionResponseTypes"][0].as_str(),
                Some("ReportBatchItemFailures")
            );
            assert_eq!(p["BisectBatchOnFunctionError"].as_bool(), Some(true));
            assert!(target(&p["DestinationConfig"]["OnFailure"]["Destination"]).is_some());
            let pattern: serde_json::Value = serde_json::from_str(
                p["FilterCriteria"]["Filters"][0]["Pattern"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(
                pattern,
                serde_json::json!({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": [eventmart_shared::outbox::KIND]}}}})
            );
        }
    }
    // Every table with a stream is relayed, and only those.
    let with_stream: BTreeSet<String> = resources(&t, "AWS::DynamoDB::Table")
        .into_iter()
        .filter(|(_, r)| !r["Properties"]["StreamSpecification"].is_null())
        .map(|(id, _)| id)
        .collect();
    assert_eq!(streams, with_stream);
}
