//! The event contract: the published schemas match the Rust types, every sample event
//! parses and validates, and bad events fail with the field and the reason.
//!
//! `EVENTMART_BLESS=1 cargo test -p eventmart-shared --test contract` rewrites
//! `events/schemas/` from the types (what `make schemas` does).

use eventmart_shared::events::{Event, EventType, detail_schema};
use retryable::Retryable;
use serde_json::{Value, json};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema_path(ty: EventType) -> PathBuf {
    repo()
        .join("events/schemas")
        .join(format!("{}.json", ty.detail_type()))
}

fn sample(ty: EventType) -> Value {
    let path = repo()
        .join("events/eventbridge")
        .join(format!("{}.json", ty.detail_type()));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn schemas_on_disk_are_generated_from_the_types() {
    let bless = std::env::var_os("EVENTMART_BLESS").is_some();
    let mut stale = vec![];
    for ty in EventType::ALL {
        let generated = serde_json::to_string_pretty(&detail_schema(ty)).unwrap() + "\n";
        let path = schema_path(ty);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &generated).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(&generated) {
            stale.push(path.display().to_string());
        }
    }
    let on_disk = std::fs::read_dir(repo().join("events/schemas"))
        .unwrap()
        .count();
    assert_eq!(
        on_disk,
        EventType::ALL.len(),
        "one schema per event type, no strays"
    );
    assert!(
        stale.is_empty(),
        "schemas differ from the types, run `make schemas`: {stale:?}"
    );
}

#[test]
fn every_sample_parses_and_matches_its_schema() {
    for ty in EventType::ALL {
        let event = sample(ty);
        let parsed = Event::from_eventbridge(&event).unwrap_or_else(|e| panic!("{ty:?}: {e}"));
        assert_eq!(parsed.event_type(), ty);
        let schema = detail_schema(ty);
        let validator = jsonschema::validator_for(&schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&event["detail"])
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{ty:?}: {errors:?}");
        // What the types write back is what the schema accepts, and parses to the same event.
        let entry = parsed.to_entry();
        assert_eq!(
            (entry.source, entry.detail_type),
            (ty.source().as_str(), ty.detail_type())
        );
        let detail: Value = serde_json::from_str(&entry.detail).unwrap();
        assert!(validator.is_valid(&detail), "{ty:?} round trip");
        assert_eq!(Event::from_detail(ty, &detail).unwrap(), parsed);
    }
}

/// Mutates the OrderPlaced sample and returns the parse error's field and reason.
fn order_error(mutate: impl FnOnce(&mut Value)) -> (String, String) {
    let mut event = sample(EventType::OrderPlaced);
    mutate(&mut event);
    let err = Event::from_eventbridge(&event).unwrap_err();
    assert!(!err.is_retryable());
    (err.field, err.reason)
}

#[test]
fn parse_errors_name_the_field_and_why() {
    type Mutation = Box<dyn FnOnce(&mut Value)>;
    let cases: Vec<(Mutation, &str, &str)> = vec![
        (
            Box::new(|e| e["detail"]["data"]["email"] = json!("not-an-email")),
            "detail.data.email",
            "must be an email address",
        ),
        (
            Box::new(|e| e["detail"]["data"]["items"][1]["quantity"] = json!(0)),
            "detail.data.items[1].quantity",
            "between 1 and 1000",
        ),
        (
            Box::new(|e| e["detail"]["data"]["subtotal"]["amountMinor"] = json!(1)),
            "detail.data.subtotal.amountMinor",
            "sum of the lines (11499)",
        ),
        (
            Box::new(|e| e["detail"]["data"]["total"]["amountMinor"] = json!(1)),
            "detail.data.total.amountMinor",
            "subtotal less the discount (10350)",
        ),
        (
            // 10 % of 114.99 is 11.499: 11.49, never 11.50.
            Box::new(|e| e["detail"]["data"]["discount"]["amountMinor"] = json!(1150)),
            "detail.data.discount.amountMinor",
            "rounded down (1149)",
        ),
        (
            Box::new(|e| e["detail"]["data"]["membership"]["discountBasisPoints"] = json!(900)),
            "detail.data.membership.discountBasisPoints",
            "annual plan's 1000",
        ),
        (
            Box::new(|e| e["detail"]["data"]["items"][0]["unitPrice"]["currency"] = json!("USD")),
            "detail.data.items[0].unitPrice.currency",
            "subtotal's currency EUR",
        ),
        (
            Box::new(|e| e["detail"]["data"]["total"]["currency"] = json!("EURO")),
            "detail.data.total.currency",
            "ISO 4217",
        ),
        (
            Box::new(|e| {
                e["detail"]["metadata"]["eventId"] = json!("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f")
            }),
            "detail.metadata.eventId",
            "version 7 UUID",
        ),
        (
            Box::new(|e| e["detail"]["metadata"]["occurredAt"] = json!("yesterday")),
            "detail.metadata.occurredAt",
            "RFC 3339",
        ),
        (
            Box::new(|e| e["detail"]["metadata"]["eventVersion"] = json!(2)),
            "detail.metadata.eventVersion",
            "not supported",
        ),
        (
            Box::new(|e| {
                e["detail"]["data"]
                    .as_object_mut()
                    .unwrap()
                    .remove("orderId");
            }),
            "detail.data",
            "missing field `orderId`",
        ),
        (
            Box::new(|e| e["detail"]["data"]["extra"] = json!(1)),
            "detail.data.extra",
            "unknown field `extra`",
        ),
        (
            Box::new(|e| {
                e.as_object_mut().unwrap().remove("detail");
            }),
            "detail",
            "is missing",
        ),
        (
            Box::new(|e| e["detail-type"] = json!("OrderShipped")),
            "detail-type",
            "'OrderShipped' from 'eventmart.orders' is not an Eventmart event",
        ),
        (
            Box::new(|e| e["source"] = json!(7)),
            "source",
            "must be a string",
        ),
    ];
    for (mutate, field, reason) in cases {
        let (f, r) = order_error(mutate);
        assert_eq!(f, field, "reason was: {r}");
        assert!(
            r.contains(reason),
            "{field}: {r:?} should contain {reason:?}"
        );
    }
}

#[test]
fn every_type_has_one_source_and_detail_type() {
    for ty in EventType::ALL {
        assert_eq!(
            EventType::lookup(ty.source().as_str(), ty.detail_type()),
            Some(ty)
        );
        assert!(
            ty.source()
                .as_str()
                .starts_with(eventmart_shared::events::SOURCE_PREFIX)
        );
    }
    let mut names: Vec<_> = EventType::ALL.iter().map(|t| t.detail_type()).collect();
    names.dedup();
    assert_eq!(names.len(), EventType::ALL.len());
}

/// `events/entries/*.json` (for `aws events put-events --entries file://...`) carry the
/// same events as the EventBridge samples.
#[test]
fn put_events_entries_match_the_samples() {
    for ty in EventType::ALL {
        let path = repo()
            .join("events/entries")
            .join(format!("{}.json", ty.detail_type()));
        let entries: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let entry = &entries[0];
        assert_eq!(entry["Source"], ty.source().as_str());
        assert_eq!(entry["DetailType"], ty.detail_type());
        let detail: Value = serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
        assert_eq!(detail, sample(ty)["detail"], "{ty:?}");
    }
}
