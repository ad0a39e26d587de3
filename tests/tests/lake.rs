//! The warehouse's three descriptions of one record agree: the event schemas
//! (`events/schemas/`), the lake rules' `InputTransformer`s and the Glue table's columns
//! (template.yaml). Every event type reaches the delivery stream exactly once; every path
//! a rule maps is one its events always carry; what a rule makes of each sample event is a
//! record Firehose's conversion accepts against the table.

use eventmart_local::eventbridge::transform::TargetInput;
use eventmart_local::template::{Rule, RuleTarget};
use eventmart_local::warehouse::schema::conform;
use eventmart_tests::{repo_root, stack, template_yaml};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Every event type with its JSON Schema, by file name.
fn schemas() -> BTreeMap<String, Value> {
    let dir = repo_root().join("events/schemas");
    std::fs::read_dir(&dir)
        .expect("events/schemas")
        .map(|e| {
            let path = e.expect("entry").path();
            let name = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .into_owned();
            let schema =
                serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("JSON");
            (name, schema)
        })
        .collect()
}

fn sample(detail_type: &str) -> Value {
    let path = repo_root().join(format!("events/eventbridge/{detail_type}.json"));
    serde_json::from_slice(&std::fs::read(&path).expect("sample")).expect("JSON")
}

fn lake_rules() -> Vec<&'static Rule> {
    stack()
        .rules
        .iter()
        .filter(|r| matches!(&r.target, RuleTarget::DeliveryStream(d) if d == "LakeDeliveryStream"))
        .collect()
}

#[test]
fn every_event_type_reaches_the_lake_exactly_once() {
    let rules = lake_rules();
    assert!(!rules.is_empty(), "the template has lake rules");
    for detail_type in schemas().keys() {
        let event = sample(detail_type);
        let matched: Vec<&str> = rules
            .iter()
            .filter(|r| r.enabled && r.compiled.matches(&event))
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(matched.len(), 1, "{detail_type}: matched by {matched:?}");
    }
    // And the table's partition projection lists exactly those types.
    let t = template_yaml();
    let values = t["Resources"]["LakeEventsTable"]["Properties"]["TableInput"]["Parameters"]
        ["projection.type.values"]
        .as_str()
        .expect("projection.type.values");
    let projected: BTreeSet<String> = values.split(',').map(str::to_owned).collect();
    let types: BTreeSet<String> = schemas().into_keys().collect();
    assert_eq!(projected, types);
}

/// Whether `path` (`$.detail.data.orderId`) always exists in an event of `schema`'s type:
/// each step is `required` at its level (`$ref`s into `$defs` followed).
fn always_present(schema: &Value, path: &str) -> Result<(), String> {
    let steps: Vec<&str> = path.trim_start_matches("$.").split('.').collect();
    // The envelope's fields are EventBridge's own; the schemas describe `detail`.
    let Some(rest) = steps.strip_prefix(&["detail"]) else {
        return match steps.as_slice() {
            ["source"] | ["detail-type"] | ["id"] | ["time"] => Ok(()),
            _ => Err(format!("{path}: not an envelope field")),
        };
    };
    let resolve = |s: &Value| -> Value {
        match s["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
            Some(name) => schema["$defs"][name].clone(),
            None => s.clone(),
        }
    };
    let mut at = resolve(schema);
    for step in rest {
        let required = at["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|k| k == step));
        if !required {
            return Err(format!("{path}: {step} is not required"));
        }
        at = resolve(&at["properties"][*step]);
        if at.is_null() {
            return Err(format!("{path}: {step} is not a property"));
        }
    }
    Ok(())
}

#[test]
fn every_mapped_path_is_one_its_events_always_carry() {
    let schemas = schemas();
    for rule in lake_rules() {
        let TargetInput::Transformer { paths_map, .. } = &rule.input else {
            panic!(
                "{}: a lake rule flattens with an InputTransformer",
                rule.name
            );
        };
        let mut matched = 0;
        for (detail_type, schema) in &schemas {
            if !rule.compiled.matches(&sample(detail_type)) {
                continue;
            }
            matched += 1;
            for (var, path) in paths_map {
                if let Err(e) = always_present(schema, path) {
                    panic!("{} ({detail_type}) <{var}>: {e}", rule.name);
                }
            }
        }
        assert!(matched > 0, "{} matches no event type", rule.name);
    }
}

#[test]
fn every_sample_becomes_a_record_the_table_accepts() {
    let model = stack();
    let stream = model
        .delivery_stream("LakeDeliveryStream")
        .expect("LakeDeliveryStream");
    let conversion = stream.conversion.as_ref().expect("conversion");
    let table = model.glue_table(&conversion.table).expect("the Glue table");
    let columns: BTreeSet<&str> = table
        .schema
        .columns
        .iter()
        .chain(&table.schema.partition_keys)
        .map(|c| c.name.as_str())
        .collect();
    for rule in lake_rules() {
        for detail_type in schemas().keys() {
            let event = sample(detail_type);
            if !rule.compiled.matches(&event) {
                continue;
            }
            let text = rule
                .input
                .apply(
                    &event,
                    "arn:aws:events:us-east-1:1:rule/b/r",
                    "2026-12-03T00:00:00Z",
                )
                .unwrap_or_else(|e| panic!("{}: {e}", rule.name));
            let record: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {text}", rule.name));
            let keys: BTreeSet<&str> = record
                .as_object()
                .expect("an object")
                .keys()
                .map(String::as_str)
                .collect();
            let extra: Vec<&&str> = keys.difference(&columns).collect();
            assert!(extra.is_empty(), "{}: {extra:?} are not columns", rule.name);
            // The partition query reads these two.
            assert_eq!(record["type"], Value::String(detail_type.clone()));
            let metadata = &event["detail"]["metadata"];
            assert_eq!(record["occurred_at"], metadata["occurredAt"]);
            assert_eq!(record["event_id"], metadata["eventId"]);
            let row = conform(&record, &table.schema, &conversion.timestamp_formats)
                .unwrap_or_else(|e| panic!("{} ({detail_type}): {e}: {record}", rule.name));
            assert!(
                row.get("occurred_at").is_some_and(|v| !v.is_null()),
                "{detail_type}: occurred_at converts: {row:?}"
            );
        }
    }
}
