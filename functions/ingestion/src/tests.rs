//! Unit tests of the consumer over the in-memory store.

use crate::app::{App, FUNCTION};
use crate::memory::MemoryPlan;
use dynamodb_idempotency::{Config, Idempotency, InMemoryStore};
use eventmart_shared::consumer::InMemoryDeadLetters;
use serde_json::{Value, json};

type TestApp = App<InMemoryStore, MemoryPlan, InMemoryDeadLetters>;

fn ingestor() -> TestApp {
    App::new(
        Idempotency::new(InMemoryStore::default(), Config::for_eventbridge(FUNCTION)),
        MemoryPlan,
        InMemoryDeadLetters::default(),
    )
}

fn sample(name: &str) -> Value {
    eventmart_tests::sample_event(name)
}

#[tokio::test]
async fn an_event_is_stored_with_its_increments_and_a_duplicate_replays() {
    let i = ingestor();
    let ev = sample("OrderPlaced");
    let out = i.on_event(&ev).await.unwrap();
    assert_eq!(
        out,
        json!({
            "eventId": "0193b3a4-aaaa-7000-8000-000000000001",
            "day": "2026-11-20",
            "counters": {"ordersPlaced": 1, "grossRevenue_EUR": 11499}
        })
    );
    let item = i
        .store()
        .item("EVENT#0193b3a4-aaaa-7000-8000-000000000001")
        .unwrap();
    assert_eq!(item["detail"], ev["detail"]);
    assert_eq!(i.on_event(&ev).await.unwrap(), out);
}

#[tokio::test]
async fn the_same_event_id_with_another_detail_is_not_counted() {
    let i = ingestor();
    let ev = sample("OrderShipped");
    i.on_event(&ev).await.unwrap();
    let mut changed = ev.clone();
    changed["detail"]["data"]["customerId"] = json!("someone-else");
    let out = i.on_event(&changed).await.unwrap();
    let reason = out["deadLettered"].as_str().unwrap();
    assert!(reason.contains("different payload"), "{reason}");
}

#[tokio::test]
async fn a_malformed_event_is_dead_lettered_and_stores_nothing() {
    let i = ingestor();
    let mut ev = sample("OrderCanceled");
    ev["detail"]["metadata"]["occurredAt"] = json!("yesterday");
    let out = i.on_event(&ev).await.unwrap();
    assert!(
        out["deadLettered"]
            .as_str()
            .unwrap()
            .contains("detail.metadata.occurredAt")
    );
    assert_eq!(i.dead_letters.messages.lock().unwrap().len(), 1);
    assert!(
        i.store()
            .item("EVENT#0193b3a4-aaaa-7000-8000-000000000002")
            .is_none()
    );
}
