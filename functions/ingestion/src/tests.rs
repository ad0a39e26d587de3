//! Unit tests of the consumer over the in-memory store.

use crate::app::{App, FUNCTION};
use crate::memory::MemoryPlan;
use dynamodb_idempotency::{Config, Idempotency, InMemoryStore};
use eventmart_shared::consumer::InMemoryDeadLetters;
use eventmart_shared::events::{EventId, Plan};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

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

/// The sample order with a fresh id: one line of `subtotal` minor units in `currency`,
/// priced for a member of `plan` (its rate off, rounded down) or for a non-member.
fn order(subtotal: u64, currency: &str, plan: Option<Plan>) -> Value {
    let mut ev = sample("OrderPlaced");
    ev["detail"]["metadata"]["eventId"] = json!(EventId::new().to_string());
    eventmart_tests::priced_order(ev, subtotal, currency, plan)
}

/// The sample cancel with a fresh id, refunding `total` minor units in `currency`.
fn cancel(total: u64, currency: &str) -> Value {
    let mut ev = sample("OrderCanceled");
    ev["detail"]["metadata"]["eventId"] = json!(EventId::new().to_string());
    ev["detail"]["data"]["total"] = json!({"amountMinor": total, "currency": currency});
    ev
}

/// The increment items that landed for `day`, one per counted event, in order.
fn increments_of(i: &TestApp, day: &str) -> Vec<Value> {
    let prefix = format!("DAILY#{day}#");
    i.store()
        .committed()
        .into_iter()
        .filter(|w| w.key.starts_with(&prefix))
        .map(|w| w.value)
        .collect()
}

/// A day's aggregate as the in-memory plan keeps it: the sum of the increments of every
/// write that landed (a duplicate that landed would be counted twice here).
fn day(i: &TestApp, day: &str) -> BTreeMap<String, u64> {
    let mut sum = BTreeMap::new();
    for counters in increments_of(i, day) {
        for (k, v) in counters.as_object().unwrap() {
            *sum.entry(k.clone()).or_default() += v.as_u64().unwrap();
        }
    }
    sum
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
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
            "counters": {
                "ordersPlaced": 1,
                "grossRevenue_EUR": 10350,
                "discountedOrders": 1,
                "discountsGiven_EUR": 1149
            }
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

#[tokio::test]
async fn discounts_are_counted_once_per_day_and_currency_under_duplicates() {
    let i = ingestor();
    let events = vec![
        sample("OrderPlaced"),                   // annual member: 11499 − 1149 EUR
        order(1999, "EUR", Some(Plan::Monthly)), // 1999 − 99 EUR
        order(2500, "EUR", None),                // a non-member: no discount
        order(19, "EUR", Some(Plan::Monthly)),   // 5 % of 19 rounds down to 0
        order(1500, "JPY", Some(Plan::Annual)),  // 1500 − 150 JPY
        cancel(1900, "EUR"),                     // the monthly member's order, refunded
    ];
    for ev in &events {
        i.on_event(ev).await.unwrap();
    }
    // Each event again, sequentially and then concurrently: nothing more lands.
    for ev in &events {
        i.on_event(ev).await.unwrap();
    }
    futures::future::join_all(events.iter().map(|ev| i.on_event(ev)))
        .await
        .into_iter()
        .for_each(|r| {
            r.unwrap();
        });
    assert_eq!(
        day(&i, "2026-11-20"),
        counts(&[
            ("ordersPlaced", 5),
            ("grossRevenue_EUR", 10350 + 1900 + 2500 + 19),
            ("grossRevenue_JPY", 1350),
            ("discountedOrders", 3),
            ("discountsGiven_EUR", 1149 + 99),
            ("discountsGiven_JPY", 150),
            // The cancel refunds what was paid; the discount stays counted as given.
            ("ordersCanceled", 1),
            ("canceledRevenue_EUR", 1900),
        ])
    );
    assert_eq!(
        increments_of(&i, "2026-11-20").len(),
        events.len(),
        "one increment item per event"
    );
    assert!(i.dead_letters.messages.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_replay_after_the_record_expired_counts_no_discount_again() {
    let now = Arc::new(Mutex::new(SystemTime::now()));
    let clock = now.clone();
    let i: TestApp = App::new(
        Idempotency::new(
            InMemoryStore::default(),
            Config::for_eventbridge(FUNCTION).with_clock(Arc::new(move || *clock.lock().unwrap())),
        ),
        MemoryPlan,
        InMemoryDeadLetters::default(),
    );
    let ev = sample("OrderPlaced");
    i.on_event(&ev).await.unwrap();
    // A replay from the archive two days later: the record expired, the event item stays.
    *now.lock().unwrap() += Duration::from_secs(48 * 3600);
    let out = i.on_event(&ev).await.unwrap();
    assert_eq!(out["alreadyStored"], true, "{out}");
    assert_eq!(
        day(&i, "2026-11-20"),
        counts(&[
            ("ordersPlaced", 1),
            ("grossRevenue_EUR", 10350),
            ("discountedOrders", 1),
            ("discountsGiven_EUR", 1149),
        ])
    );
}
