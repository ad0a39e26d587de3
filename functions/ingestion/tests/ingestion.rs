//! The ingestion function against moto: the template's tables and an SQS dead-letter queue.

use aws_sdk_dynamodb::types::AttributeValue;
use eventmart_shared::aws::RequestCounter;
use eventmart_shared::events::{EventId, Plan};
use eventmart_tests::{create_queue, create_tables, drain_queue, dynamodb, fixture, sqs};
use ingestion::{Clients, Deployed, Settings};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

struct Env {
    app: Arc<Deployed>,
    ddb: aws_sdk_dynamodb::Client,
    requests: RequestCounter,
    sqs: aws_sdk_sqs::Client,
    dlq: String,
    tables: HashMap<String, String>,
}

async fn env() -> Env {
    let (ddb, requests) = dynamodb().await;
    let tables = create_tables(&ddb).await;
    let sqs = sqs().await;
    let dlq = create_queue(&sqs, "ingestion-dlq").await;
    let settings = Settings {
        idempotency_table: tables["IdempotencyTable"].clone(),
        events_table: tables["AnalyticsEventsTable"].clone(),
        daily_table: tables["AnalyticsDailyTable"].clone(),
        dead_letter_queue_url: dlq.clone(),
    };
    let app = ingestion::build_with(
        Clients {
            dynamodb: ddb.clone(),
            sqs: sqs.clone(),
        },
        &settings,
    );
    requests.reset();
    Env {
        app: Arc::new(app),
        ddb,
        requests,
        sqs,
        dlq,
        tables,
    }
}

/// A sample event with a fresh id, at the given instant.
fn event(name: &str, occurred_at: &str) -> Value {
    let mut ev = fixture(&format!("events/eventbridge/{name}.json"));
    ev["detail"]["metadata"]["eventId"] = json!(EventId::new().to_string());
    ev["detail"]["metadata"]["occurredAt"] = json!(occurred_at);
    ev
}

/// A cancel refunding `total` minor units in `currency`.
fn with_total(mut ev: Value, total: u64, currency: &str) -> Value {
    ev["detail"]["data"]["total"] = json!({"amountMinor": total, "currency": currency});
    ev
}

impl Env {
    /// The day's counters, as numbers.
    async fn day(&self, day: &str) -> BTreeMap<String, u64> {
        let item = self
            .ddb
            .get_item()
            .table_name(&self.tables["AnalyticsDailyTable"])
            .key("series", AttributeValue::S("daily".into()))
            .key("day", AttributeValue::S(day.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_default();
        item.iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().unwrap())))
            .collect()
    }

    async fn events(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.ddb
            .scan()
            .table_name(&self.tables["AnalyticsEventsTable"])
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }

    fn transactions(&self) -> BTreeMap<String, u64> {
        let snap = self.requests.snapshot();
        self.requests.reset();
        snap
    }
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test]
async fn a_day_of_mixed_events_with_duplicates_gives_exact_counters() {
    let env = env().await;
    let at = "2026-11-20T10:15:30.123Z";
    let events = vec![
        // The sample: an annual member's order, 11499 less 1149 EUR.
        event("OrderPlaced", at),
        eventmart_tests::priced_order(event("OrderPlaced", at), 2500, "EUR", None),
        eventmart_tests::priced_order(event("OrderPlaced", at), 1500, "JPY", Some(Plan::Annual)),
        // A member whose 5 % of 19 rounds down to nothing: no discount given.
        eventmart_tests::priced_order(event("OrderPlaced", at), 19, "EUR", Some(Plan::Monthly)),
        with_total(event("OrderCanceled", at), 2500, "EUR"),
        // The member's order canceled: the refund is what was paid, and the discount
        // stays counted as given.
        event("OrderCanceled", at),
        event("OrderShipped", at),
        event("MembershipSignedUp", at),
        event("MembershipSignedUp", at),
        event("MembershipCanceled", at),
        event("FulfillmentStarted", at),
        event("FulfillmentCanceled", at),
        event("FulfillmentCancelRejected", at),
    ];
    for ev in &events {
        let out = env.app.on_event(ev).await.unwrap();
        assert_eq!(out["day"], "2026-11-20", "{out}");
        assert_eq!(
            env.transactions(),
            counts(&[("TransactWriteItems", 1)]),
            "one transaction per new event"
        );
    }
    // Every event again, sequentially: one transaction each, nothing changes.
    for ev in &events {
        env.app.on_event(ev).await.unwrap();
        assert_eq!(env.transactions(), counts(&[("TransactWriteItems", 1)]));
    }
    // And 64 concurrent deliveries of the member's order.
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (app, ev) = (env.app.clone(), events[0].clone());
            tokio::spawn(async move { app.on_event(&ev).await })
        })
        .collect();
    for t in futures::future::join_all(tasks).await {
        t.unwrap().unwrap();
    }
    assert_eq!(env.transactions(), counts(&[("TransactWriteItems", 64)]));

    let expected = counts(&[
        ("ordersPlaced", 4),
        ("grossRevenue_EUR", 10350 + 2500 + 19),
        ("grossRevenue_JPY", 1350),
        ("discountedOrders", 2),
        ("discountsGiven_EUR", 1149),
        ("discountsGiven_JPY", 150),
        ("ordersCanceled", 2),
        ("canceledRevenue_EUR", 2500 + 10350),
        ("shipments", 1),
        ("signUps", 2),
        ("membershipCancellations", 1),
    ]);
    assert_eq!(env.day("2026-11-20").await, expected);

    let stored = env.events().await;
    assert_eq!(stored.len(), events.len(), "one item per event");
    for ev in &events {
        let id = ev["detail"]["metadata"]["eventId"].as_str().unwrap();
        let item = stored
            .iter()
            .find(|i| i["pk"].as_s().unwrap() == &format!("EVENT#{id}"))
            .expect("event item");
        assert_eq!(
            item["source"].as_s().unwrap(),
            ev["source"].as_str().unwrap()
        );
        assert_eq!(
            item["detailType"].as_s().unwrap(),
            ev["detail-type"].as_str().unwrap()
        );
        assert_eq!(
            item["occurredAt"].as_s().unwrap(),
            "2026-11-20T10:15:30.123Z"
        );
        assert_eq!(item["day"].as_s().unwrap(), "2026-11-20");
        let detail: Value = serde_json::from_str(item["detail"].as_s().unwrap()).unwrap();
        assert_eq!(detail, ev["detail"]);
    }
    assert!(drain_queue(&env.sqs, &env.dlq).await.is_empty());
}

#[tokio::test]
async fn events_on_two_days_land_on_their_own_days() {
    let env = env().await;
    // 23:59:59.999 UTC and, five hours west of UTC, the next UTC day.
    let late = eventmart_tests::priced_order(
        event("OrderPlaced", "2026-11-20T23:59:59.999Z"),
        1000,
        "USD",
        None,
    );
    let next = eventmart_tests::priced_order(
        event("OrderPlaced", "2026-11-20T19:30:00-05:00"),
        700,
        "USD",
        Some(Plan::Monthly),
    );
    let signup = event("MembershipSignedUp", "2026-11-21T00:00:00Z");
    for ev in [&late, &next, &signup, &late] {
        env.app.on_event(ev).await.unwrap();
    }
    assert_eq!(
        env.day("2026-11-20").await,
        counts(&[("ordersPlaced", 1), ("grossRevenue_USD", 1000)])
    );
    assert_eq!(
        env.day("2026-11-21").await,
        counts(&[
            ("ordersPlaced", 1),
            ("grossRevenue_USD", 665),
            ("discountedOrders", 1),
            ("discountsGiven_USD", 35),
            ("signUps", 1)
        ])
    );
    assert!(env.day("2026-11-22").await.is_empty());
}

#[tokio::test]
async fn a_replay_after_the_idempotency_record_expired_is_not_counted_again() {
    let env = env().await;
    let ev = eventmart_tests::priced_order(
        event("OrderPlaced", "2026-11-22T08:00:00Z"),
        4200,
        "GBP",
        Some(Plan::Annual),
    );
    env.app.on_event(&ev).await.unwrap();
    // What TTL does after 24 hours: the record is gone, the event item stays.
    env.ddb
        .delete_item()
        .table_name(&env.tables["IdempotencyTable"])
        .key(
            "id",
            AttributeValue::S(format!(
                "ingestion#{}",
                ev["detail"]["metadata"]["eventId"].as_str().unwrap()
            )),
        )
        .send()
        .await
        .unwrap();
    env.transactions();
    let out = env.app.on_event(&ev).await.unwrap();
    assert_eq!(out["alreadyStored"], true);
    assert_eq!(env.transactions(), counts(&[("TransactWriteItems", 1)]));
    assert_eq!(
        env.day("2026-11-22").await,
        counts(&[
            ("ordersPlaced", 1),
            ("grossRevenue_GBP", 3780),
            ("discountedOrders", 1),
            ("discountsGiven_GBP", 420)
        ])
    );
}

#[tokio::test]
async fn a_malformed_event_goes_to_the_dead_letter_queue_with_its_reason() {
    let env = env().await;
    let mut ev = event("OrderCanceled", "2026-11-23T08:00:00Z");
    ev["detail"]["data"]["total"]["currency"] = json!("EURO");
    let out = env.app.on_event(&ev).await.unwrap();
    assert!(out["deadLettered"].is_string());
    let dead = drain_queue(&env.sqs, &env.dlq).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["function"], "ingestion");
    assert_eq!(dead[0]["event"], ev);
    let reason = dead[0]["reason"].as_str().unwrap();
    assert!(reason.contains("detail.data.total.currency"), "{reason}");
    assert_eq!(env.transactions(), BTreeMap::new(), "no DynamoDB request");
    assert!(env.events().await.is_empty());
}
