//! Unit tests of the handler over an in-memory ledger with DynamoDB's conditions.

use super::*;
use crate::domain::{State, Status};
use dynamodb_idempotency::{Claim, EpochMillis, Record};
use eventmart_shared::consumer::InMemoryDeadLetters;
use eventmart_shared::events::EventId;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Inner {
    records: HashMap<String, Record>,
    shipments: HashMap<OrderId, Shipment>,
    outbox: Vec<Event>,
    /// Applied right after the next read: a concurrent writer between read and commit.
    after_read: Option<Shipment>,
}

#[derive(Clone, Default)]
struct MemoryLedger(Arc<Mutex<Inner>>);

impl MemoryLedger {
    fn shipment_now(&self, id: OrderId) -> Option<Shipment> {
        self.0.lock().unwrap().shipments.get(&id).cloned()
    }
    fn outbox(&self) -> Vec<Event> {
        self.0.lock().unwrap().outbox.clone()
    }
    fn interleave(&self, s: Shipment) {
        self.0.lock().unwrap().after_read = Some(s);
    }

    /// All or nothing, like TransactWriteItems; `offset` is the index of the first write.
    fn apply(inner: &mut Inner, writes: Vec<Change>, offset: usize) -> Result<(), StoreError> {
        let failed: Vec<usize> = writes
            .iter()
            .enumerate()
            .filter(|(_, w)| match w {
                Change::Put { shipment, expected } => {
                    inner
                        .shipments
                        .get(&shipment.order_id)
                        .map(|s| s.state.status())
                        != *expected
                }
                Change::Emit(_) => false,
            })
            .map(|(i, _)| i + offset)
            .collect();
        if !failed.is_empty() {
            return Err(StoreError {
                message: "transaction canceled".into(),
                retryable: true,
                conditions_failed: failed,
            });
        }
        for w in writes {
            match w {
                Change::Put { shipment, .. } => {
                    inner.shipments.insert(shipment.order_id, shipment);
                }
                Change::Emit(e) => inner.outbox.push(e),
            }
        }
        Ok(())
    }
}

impl Ledger for MemoryLedger {
    async fn shipment(&self, order_id: OrderId) -> Result<Option<Shipment>, LedgerError> {
        let mut inner = self.0.lock().unwrap();
        let read = inner.shipments.get(&order_id).cloned();
        if let Some(s) = inner.after_read.take() {
            inner.shipments.insert(s.order_id, s);
        }
        Ok(read)
    }

    fn writes(&self, changes: Vec<Change>, _now: DateTime<Utc>) -> Vec<Change> {
        changes
    }
}

impl Store for MemoryLedger {
    type Write = Change;

    async fn claim(&self, record: &Record, now: EpochMillis) -> Result<Claim, StoreError> {
        let mut inner = self.0.lock().unwrap();
        match inner.records.get(&record.key) {
            Some(old) if !old.is_expired(now) => Ok(Claim::Exists(old.clone())),
            _ => {
                inner.records.insert(record.key.clone(), record.clone());
                Ok(Claim::Claimed)
            }
        }
    }

    async fn complete(&self, record: &Record) -> Result<(), StoreError> {
        let mut inner = self.0.lock().unwrap();
        inner.records.insert(record.key.clone(), record.clone());
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.0.lock().unwrap().records.remove(key);
        Ok(())
    }

    async fn write(&self, writes: Vec<Change>) -> Result<(), StoreError> {
        Self::apply(&mut self.0.lock().unwrap(), writes, 0)
    }

    async fn commit(
        &self,
        record: &Record,
        writes: Vec<Change>,
        now: EpochMillis,
    ) -> Result<Claim, StoreError> {
        let mut inner = self.0.lock().unwrap();
        if let Some(old) = inner.records.get(&record.key)
            && !old.is_expired(now)
        {
            return Ok(Claim::Exists(old.clone()));
        }
        Self::apply(&mut inner, writes, 1)?;
        inner.records.insert(record.key.clone(), record.clone());
        Ok(Claim::Claimed)
    }
}

type TestApp = App<MemoryLedger, InMemoryDeadLetters>;

fn app() -> (TestApp, MemoryLedger) {
    let ledger = MemoryLedger::default();
    (
        App::new(ledger.clone(), InMemoryDeadLetters::default()),
        ledger,
    )
}

fn sample(name: &str) -> Value {
    let path = format!(
        "{}/../../events/eventbridge/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A sample event about `order`, with a fresh event id.
fn event(name: &str, order: OrderId) -> Value {
    let mut e = sample(name);
    e["detail"]["metadata"]["eventId"] = json!(EventId::new().to_string());
    e["detail"]["data"]["orderId"] = json!(order.to_string());
    e
}

fn correlation(e: &Value) -> String {
    e["detail"]["metadata"]["correlationId"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request {
    let mut b = lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Body::Empty).unwrap()
}

fn body(resp: &Response<Body>) -> Value {
    serde_json::from_slice(resp.body().as_ref()).unwrap()
}

fn types(events: &[Event]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| e.event_type().detail_type())
        .collect()
}

#[tokio::test]
async fn order_placed_prepares_a_shipment_and_starts_fulfillment() {
    let (app, ledger) = app();
    let order = OrderId::new();
    let placed = event("OrderPlaced", order);
    let out = app.event(&placed).await.unwrap();
    assert_eq!(out["outcome"], "prepared");
    let s = ledger.shipment_now(order).unwrap();
    let State::Preparing(r) = &s.state else {
        panic!("not preparing: {s:?}")
    };
    assert_eq!(r.customer_id.to_string(), "cust-42");
    assert_eq!(r.email.as_str(), "ada@example.com");
    let outbox = ledger.outbox();
    assert_eq!(types(&outbox), ["FulfillmentStarted"]);
    assert_eq!(
        outbox[0].metadata().correlation_id.to_string(),
        correlation(&placed)
    );
    assert_eq!(out["emitted"][0], outbox[0].metadata().event_id.to_string());
}

#[tokio::test]
async fn a_duplicate_order_placed_changes_nothing_more() {
    let (app, ledger) = app();
    let order = OrderId::new();
    let placed = event("OrderPlaced", order);
    let first = app.event(&placed).await.unwrap();
    let second = app.event(&placed).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(ledger.outbox().len(), 1);
    // A different event about an order already in preparation does nothing either.
    let again = app.event(&event("OrderPlaced", order)).await.unwrap();
    assert_eq!(again["outcome"], "alreadyExists");
    assert_eq!(ledger.outbox().len(), 1);
}

#[tokio::test]
async fn a_cancel_before_its_order_leaves_a_tombstone_the_order_cannot_pass() {
    let (app, ledger) = app();
    let order = OrderId::new();
    let out = app.event(&event("OrderCanceled", order)).await.unwrap();
    assert_eq!(out["outcome"], "tombstoned");
    let s = ledger.shipment_now(order).unwrap();
    assert_eq!(
        s.state,
        State::Canceled {
            recipient: None,
            tombstone: true
        }
    );
    let out = app.event(&event("OrderPlaced", order)).await.unwrap();
    assert_eq!(out["outcome"], "lateOrderAbsorbed");
    assert_eq!(
        ledger.shipment_now(order).unwrap().state.status(),
        Status::Canceled
    );
    assert_eq!(types(&ledger.outbox()), ["FulfillmentCanceled"]);
}

#[tokio::test]
async fn cancel_reverses_a_preparing_shipment_once() {
    let (app, ledger) = app();
    let order = OrderId::new();
    app.event(&event("OrderPlaced", order)).await.unwrap();
    let cancel = event("OrderCanceled", order);
    assert_eq!(app.event(&cancel).await.unwrap()["outcome"], "canceled");
    let s = ledger.shipment_now(order).unwrap();
    assert!(matches!(
        s.state,
        State::Canceled {
            recipient: Some(_),
            tombstone: false
        }
    ));
    let again = app.event(&event("OrderCanceled", order)).await.unwrap();
    assert_eq!(again["outcome"], "alreadyCanceled");
    let outbox = ledger.outbox();
    assert_eq!(
        types(&outbox),
        ["FulfillmentStarted", "FulfillmentCanceled"]
    );
    assert_eq!(
        outbox[1].metadata().correlation_id.to_string(),
        correlation(&cancel)
    );
}

#[tokio::test]
async fn cancel_after_ship_is_rejected_and_the_shipment_stays_shipped() {
    let (app, ledger) = app();
    let order = OrderId::new();
    app.event(&event("OrderPlaced", order)).await.unwrap();
    let resp = app
        .http(request("POST", &format!("/fulfillments/{order}/ship"), &[]))
        .await;
    assert_eq!(resp.status(), 200);
    let out = app.event(&event("OrderCanceled", order)).await.unwrap();
    assert_eq!(out["outcome"], "cancelRejected");
    assert_eq!(
        ledger.shipment_now(order).unwrap().state.status(),
        Status::Shipped
    );
    let outbox = ledger.outbox();
    assert_eq!(
        types(&outbox),
        [
            "FulfillmentStarted",
            "OrderShipped",
            "FulfillmentCancelRejected"
        ]
    );
    let Event::FulfillmentCancelRejected(e) = &outbox[2] else {
        unreachable!()
    };
    assert_eq!(e.data.reason.to_string(), domain::ALREADY_LEFT);
}

#[tokio::test]
async fn a_concurrent_ship_between_read_and_commit_makes_the_cancel_decide_again() {
    let (app, ledger) = app();
    let order = OrderId::new();
    app.event(&event("OrderPlaced", order)).await.unwrap();
    let mut shipped = ledger.shipment_now(order).unwrap();
    let State::Preparing(r) = shipped.state.clone() else {
        unreachable!()
    };
    shipped.state = State::Shipped(r);
    ledger.interleave(shipped);
    let out = app.event(&event("OrderCanceled", order)).await.unwrap();
    assert_eq!(out["outcome"], "cancelRejected");
    assert_eq!(
        ledger.shipment_now(order).unwrap().state.status(),
        Status::Shipped
    );
    assert_eq!(
        types(&ledger.outbox()),
        ["FulfillmentStarted", "FulfillmentCancelRejected"]
    );
}

#[tokio::test]
async fn malformed_and_foreign_events_are_dead_lettered_with_their_reason() {
    let (app, ledger) = app();
    let mut bad = event("OrderPlaced", OrderId::new());
    bad["detail"]["data"]["items"][0]["quantity"] = json!(0);
    let out = app.event(&bad).await.unwrap();
    assert!(out["deadLettered"].as_str().unwrap().contains("quantity"));
    let shipped = sample("OrderShipped");
    app.event(&shipped).await.unwrap();
    let dead = app.dlq.messages.lock().unwrap().clone();
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0]["function"], "fulfillment");
    assert!(
        dead[0]["reason"]
            .as_str()
            .unwrap()
            .contains("detail.data.items[0].quantity")
    );
    assert_eq!(
        dead[1]["reason"],
        "fulfillment does not consume OrderShipped"
    );
    assert!(ledger.outbox().is_empty());
}

#[tokio::test]
async fn ship_marks_shipped_once_and_answers_the_shipment() {
    let (app, ledger) = app();
    let order = OrderId::new();
    app.event(&event("OrderPlaced", order)).await.unwrap();
    let path = format!("/fulfillments/{order}/ship");
    let first = app.http(request("POST", &path, &[])).await;
    assert_eq!(first.status(), 200);
    let b = body(&first);
    assert_eq!(b["orderId"], order.to_string());
    assert_eq!(b["status"], "SHIPPED");
    assert!(b["updatedAt"].is_string());
    let second = app.http(request("POST", &path, &[])).await;
    assert_eq!(second.status(), 200);
    assert_eq!(body(&second)["status"], "SHIPPED");
    let outbox = ledger.outbox();
    assert_eq!(types(&outbox), ["FulfillmentStarted", "OrderShipped"]);
    let Event::OrderShipped(e) = &outbox[1] else {
        unreachable!()
    };
    assert_eq!(e.data.order_id, order);
    assert_eq!(e.data.customer_id.to_string(), "cust-42");
    assert_eq!(e.data.email.as_str(), "ada@example.com");
    let got = app
        .http(request("GET", &format!("/fulfillments/{order}"), &[]))
        .await;
    assert_eq!(got.status(), 200);
    assert_eq!(body(&got), b);
}

#[tokio::test]
async fn ship_refuses_canceled_and_unknown_shipments() {
    let (app, _) = app();
    let order = OrderId::new();
    app.event(&event("OrderCanceled", order)).await.unwrap();
    let resp = app
        .http(request("POST", &format!("/fulfillments/{order}/ship"), &[]))
        .await;
    assert_eq!(resp.status(), 409);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let unknown = OrderId::new();
    let resp = app
        .http(request(
            "POST",
            &format!("/fulfillments/{unknown}/ship"),
            &[],
        ))
        .await;
    assert_eq!(resp.status(), 404);
    let resp = app
        .http(request("GET", &format!("/fulfillments/{unknown}"), &[]))
        .await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn ship_with_an_idempotency_key_replays_the_first_answer() {
    let (app, ledger) = app();
    let order = OrderId::new();
    app.event(&event("OrderPlaced", order)).await.unwrap();
    let path = format!("/fulfillments/{order}/ship");
    let h = [("idempotency-key", "ship-1")];
    let first = app.http(request("POST", &path, &h)).await;
    let second = app.http(request("POST", &path, &h)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(body(&first), body(&second));
    assert_eq!(ledger.outbox().len(), 2);
    let bad = app
        .http(request("POST", &path, &[("idempotency-key", "")]))
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn client_mistakes_get_problems_not_server_errors() {
    let (app, _) = app();
    let resp = app.http(request("DELETE", "/fulfillments/x", &[])).await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET");
    let order = OrderId::new();
    let resp = app
        .http(request("GET", &format!("/fulfillments/{order}/ship"), &[]))
        .await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let resp = app
        .http(request("GET", "/fulfillments/not-a-uuid", &[]))
        .await;
    assert_eq!(resp.status(), 422);
    assert_eq!(body(&resp)["errors"][0]["field"], "orderId");
    let resp = app.http(request("GET", "/elsewhere", &[])).await;
    assert_eq!(resp.status(), 404);
}
