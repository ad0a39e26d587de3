//! Unit tests of the handler over the in-memory ledger, which keeps DynamoDB's conditions.

use crate::app::App;
use crate::domain::{self, State, Status};
use crate::memory::MemoryLedger;
use crate::ports::LedgerError;
use eventmart_shared::consumer::InMemoryDeadLetters;
use eventmart_shared::events::{Event, EventId, OrderId};
use eventmart_tests::{customer_claims, signed_in, staff_claims};
use lambda_http::{Body, Request, Response};
use retryable::Retryable;
use serde_json::{Value, json};

type TestApp = App<MemoryLedger, InMemoryDeadLetters>;

fn app() -> (TestApp, MemoryLedger) {
    let ledger = MemoryLedger::default();
    (
        App::new(ledger.clone(), InMemoryDeadLetters::default()),
        ledger,
    )
}

fn sample(name: &str) -> Value {
    eventmart_tests::sample_event(name)
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

/// The warehouse user the tests sign in as, and the customer who placed the sample order.
const WAREHOUSE: &str = "3f6a1b2c-4d5e-4f70-8a9b-0c1d2e3f4a5b";
const CUSTOMER: &str = "cust-42";

fn warehouse() -> Vec<(String, String)> {
    staff_claims(WAREHOUSE, "warehouse@example.com", &["warehouse"])
}

/// A request of the warehouse, behind the JWT authorizer.
fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Request {
    request_as(Some(&warehouse()), method, path, headers)
}

/// A request of the caller of `claims` (none: no authorizer ran).
fn request_as(
    claims: Option<&[(String, String)]>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Request {
    let req = eventmart_tests::http_request_with(method, path, None, headers);
    match claims {
        Some(claims) => signed_in(req, claims),
        None => req,
    }
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
    let out = app.on_event(&placed).await.unwrap();
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
    let first = app.on_event(&placed).await.unwrap();
    let second = app.on_event(&placed).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(ledger.outbox().len(), 1);
    // A different event about an order already in preparation does nothing either.
    let again = app.on_event(&event("OrderPlaced", order)).await.unwrap();
    assert_eq!(again["outcome"], "alreadyExists");
    assert_eq!(ledger.outbox().len(), 1);
}

#[tokio::test]
async fn a_cancel_before_its_order_leaves_a_tombstone_the_order_cannot_pass() {
    let (app, ledger) = app();
    let order = OrderId::new();
    let out = app.on_event(&event("OrderCanceled", order)).await.unwrap();
    assert_eq!(out["outcome"], "tombstoned");
    let s = ledger.shipment_now(order).unwrap();
    assert_eq!(
        s.state,
        State::Canceled {
            recipient: None,
            tombstone: true
        }
    );
    let out = app.on_event(&event("OrderPlaced", order)).await.unwrap();
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
    app.on_event(&event("OrderPlaced", order)).await.unwrap();
    let cancel = event("OrderCanceled", order);
    assert_eq!(app.on_event(&cancel).await.unwrap()["outcome"], "canceled");
    let s = ledger.shipment_now(order).unwrap();
    assert!(matches!(
        s.state,
        State::Canceled {
            recipient: Some(_),
            tombstone: false
        }
    ));
    let again = app.on_event(&event("OrderCanceled", order)).await.unwrap();
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
    app.on_event(&event("OrderPlaced", order)).await.unwrap();
    let resp = app
        .handle(request("POST", &format!("/fulfillments/{order}/ship"), &[]))
        .await;
    assert_eq!(resp.status(), 200);
    let out = app.on_event(&event("OrderCanceled", order)).await.unwrap();
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
    app.on_event(&event("OrderPlaced", order)).await.unwrap();
    let mut shipped = ledger.shipment_now(order).unwrap();
    let State::Preparing(r) = shipped.state.clone() else {
        unreachable!()
    };
    shipped.state = State::Shipped(r);
    ledger.interleave(shipped);
    let out = app.on_event(&event("OrderCanceled", order)).await.unwrap();
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
    let out = app.on_event(&bad).await.unwrap();
    assert!(out["deadLettered"].as_str().unwrap().contains("quantity"));
    let shipped = sample("OrderShipped");
    app.on_event(&shipped).await.unwrap();
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
async fn a_permanent_ledger_error_is_dead_lettered_and_a_transient_one_retried() {
    let (app, ledger) = app();
    let order = OrderId::new();
    ledger.fail_reads(Some(LedgerError::Corrupt {
        order_id: order,
        reason: "`status` is missing or unknown".into(),
    }));
    let out = app.on_event(&event("OrderPlaced", order)).await.unwrap();
    assert!(
        out["deadLettered"].as_str().unwrap().contains("malformed"),
        "{out}"
    );
    ledger.fail_reads(Some(LedgerError::Refused(
        "ResourceNotFoundException".into(),
    )));
    let out = app.on_event(&event("OrderCanceled", order)).await.unwrap();
    assert!(out["deadLettered"].as_str().unwrap().contains("refused"));
    let dead = app.dlq.messages.lock().unwrap().clone();
    assert_eq!(dead.len(), 2);
    assert!(dead.iter().all(|d| d["retryable"] == false));

    ledger.fail_reads(Some(LedgerError::Unavailable("ThrottlingException".into())));
    let placed = event("OrderPlaced", order);
    let err = app.on_event(&placed).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(app.dlq.messages.lock().unwrap().len(), 2);
    // The failed attempt left no claim behind: the retry runs the handler.
    ledger.fail_reads(None);
    assert_eq!(app.on_event(&placed).await.unwrap()["outcome"], "prepared");
    assert_eq!(types(&ledger.outbox()), ["FulfillmentStarted"]);
}

#[tokio::test]
async fn ship_marks_shipped_once_and_answers_the_shipment() {
    let (app, ledger) = app();
    let order = OrderId::new();
    app.on_event(&event("OrderPlaced", order)).await.unwrap();
    let path = format!("/fulfillments/{order}/ship");
    let first = app.handle(request("POST", &path, &[])).await;
    assert_eq!(first.status(), 200);
    let b = body(&first);
    assert_eq!(b["orderId"], order.to_string());
    assert_eq!(b["status"], "SHIPPED");
    assert!(b["updatedAt"].is_string());
    let second = app.handle(request("POST", &path, &[])).await;
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
        .handle(request("GET", &format!("/fulfillments/{order}"), &[]))
        .await;
    assert_eq!(got.status(), 200);
    assert_eq!(body(&got), b);
}

#[tokio::test]
async fn ship_refuses_canceled_and_unknown_shipments() {
    let (app, _) = app();
    let order = OrderId::new();
    app.on_event(&event("OrderCanceled", order)).await.unwrap();
    let resp = app
        .handle(request("POST", &format!("/fulfillments/{order}/ship"), &[]))
        .await;
    assert_eq!(resp.status(), 409);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let unknown = OrderId::new();
    let resp = app
        .handle(request(
            "POST",
            &format!("/fulfillments/{unknown}/ship"),
            &[],
        ))
        .await;
    assert_eq!(resp.status(), 404);
    let resp = app
        .handle(request("GET", &format!("/fulfillments/{unknown}"), &[]))
        .await;
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn ship_with_an_idempotency_key_replays_the_first_answer() {
    let (app, ledger) = app();
    let order = OrderId::new();
    app.on_event(&event("OrderPlaced", order)).await.unwrap();
    let path = format!("/fulfillments/{order}/ship");
    let h = [("idempotency-key", "ship-1")];
    let first = app.handle(request("POST", &path, &h)).await;
    let second = app.handle(request("POST", &path, &h)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(body(&first), body(&second));
    assert_eq!(ledger.outbox().len(), 2);
    let bad = app
        .handle(request("POST", &path, &[("idempotency-key", "")]))
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn client_mistakes_get_problems_not_server_errors() {
    let (app, _) = app();
    let resp = app.handle(request("DELETE", "/fulfillments/x", &[])).await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET");
    let order = OrderId::new();
    let resp = app
        .handle(request("GET", &format!("/fulfillments/{order}/ship"), &[]))
        .await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let resp = app.handle(request("GET", "/elsewhere", &[])).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(body(&resp)["detail"], "no route for /elsewhere");
}

#[tokio::test]
async fn a_malformed_order_id_in_the_path_is_an_unknown_shipment() {
    let (app, ledger) = app();
    let unknown = OrderId::new();
    let unknown_get = app
        .handle(request("GET", &format!("/fulfillments/{unknown}"), &[]))
        .await;
    for (method, path) in [
        ("GET", "/fulfillments/not-a-uuid"),
        ("POST", "/fulfillments/not-a-uuid/ship"),
        ("POST", "/fulfillments/42/ship"),
    ] {
        let resp = app.handle(request(method, path, &[])).await;
        assert_eq!(resp.status(), 404, "{method} {path}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let b = body(&resp);
        assert_eq!(b["type"], body(&unknown_get)["type"], "{method} {path}");
        assert!(b.get("errors").is_none(), "{method} {path}: {b}");
    }
    let resp = app
        .handle(request(
            "POST",
            "/fulfillments/not-a-uuid/ship",
            &[("idempotency-key", "ship-bad-id")],
        ))
        .await;
    assert_eq!(resp.status(), 404);
    assert!(ledger.outbox().is_empty());
}

/// The shipment of `order` and the outbox, to compare before and after a refusal.
fn state(ledger: &MemoryLedger, order: OrderId) -> (Option<domain::Shipment>, Vec<Event>) {
    (ledger.shipment_now(order), ledger.outbox())
}

#[tokio::test]
async fn without_claims_both_routes_are_401_and_nothing_is_written() {
    let (app, ledger) = app();
    let order = OrderId::new();
    app.on_event(&event("OrderPlaced", order)).await.unwrap();
    let before = state(&ledger, order);
    let records = ledger.record_keys();
    let no_sub = vec![("cognito:groups".to_owned(), "[warehouse]".to_owned())];
    for claims in [None, Some(no_sub.as_slice())] {
        for (method, path, headers) in [
            ("POST", format!("/fulfillments/{order}/ship"), &[][..]),
            (
                "POST",
                format!("/fulfillments/{order}/ship"),
                &[("idempotency-key", "k")][..],
            ),
            ("GET", format!("/fulfillments/{order}"), &[][..]),
            ("POST", "/fulfillments/not-an-id/ship".to_owned(), &[][..]),
        ] {
            let resp = app.handle(request_as(claims, method, &path, headers)).await;
            assert_eq!(resp.status(), 401, "{method} {path} {claims:?}");
            assert_eq!(resp.headers()["content-type"], "application/problem+json");
            assert_eq!(resp.headers()["www-authenticate"], "Bearer");
            assert_eq!(body(&resp)["type"], "urn:eventmart:problem:unauthenticated");
        }
    }
    assert_eq!(state(&ledger, order), before);
    assert_eq!(ledger.record_keys(), records, "no idempotency record");
}

#[tokio::test]
async fn only_the_warehouse_reads_and_ships_not_even_the_orders_customer() {
    let (app, ledger) = app();
    let order = OrderId::new();
    app.on_event(&event("OrderPlaced", order)).await.unwrap();
    let before = state(&ledger, order);
    let State::Preparing(recipient) = &before.0.as_ref().unwrap().state else {
        panic!("preparing expected")
    };
    assert_eq!(recipient.customer_id.to_string(), CUSTOMER);
    let records = ledger.record_keys();
    let callers = [
        (
            "the order's own customer",
            customer_claims(CUSTOMER, "ada@example.com"),
        ),
        (
            "another customer",
            customer_claims("cust-7", "bob@example.com"),
        ),
        (
            "an analyst",
            staff_claims("analyst-1", "analyst@example.com", &["analysts"]),
        ),
        (
            "a group of another spelling",
            staff_claims("w-2", "w2@example.com", &["Warehouse"]),
        ),
    ];
    for (who, claims) in &callers {
        for (method, path, headers) in [
            ("POST", format!("/fulfillments/{order}/ship"), &[][..]),
            (
                "POST",
                format!("/fulfillments/{order}/ship"),
                &[("idempotency-key", "k")][..],
            ),
            ("GET", format!("/fulfillments/{order}"), &[][..]),
            // Before the id is read: no answer tells which ids exist.
            ("GET", format!("/fulfillments/{}", OrderId::new()), &[][..]),
            ("GET", "/fulfillments/not-an-id".to_owned(), &[][..]),
        ] {
            let resp = app
                .handle(request_as(Some(claims), method, &path, headers))
                .await;
            assert_eq!(resp.status(), 403, "{who}: {method} {path}");
            assert_eq!(resp.headers()["content-type"], "application/problem+json");
            let b = body(&resp);
            assert_eq!(b["type"], "urn:eventmart:problem:forbidden", "{who}");
            assert_eq!(b["detail"], "this needs the warehouse role", "{who}");
        }
    }
    assert_eq!(
        state(&ledger, order),
        before,
        "a refusal changed the shipment"
    );
    assert_eq!(ledger.record_keys(), records, "a refusal kept a record");
    // The warehouse ships it.
    let resp = app
        .handle(request("POST", &format!("/fulfillments/{order}/ship"), &[]))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        types(&ledger.outbox()),
        ["FulfillmentStarted", "OrderShipped"]
    );
}

#[tokio::test]
async fn a_ship_key_is_the_warehouse_users_own() {
    let (app, ledger) = app();
    let order = OrderId::new();
    app.on_event(&event("OrderPlaced", order)).await.unwrap();
    let path = format!("/fulfillments/{order}/ship");
    let key = [("idempotency-key", "scan-1")];
    let other = staff_claims("w-2", "w2@example.com", &["warehouse"]);
    let first = app.handle(request("POST", &path, &key)).await;
    assert_eq!(first.status(), 200);
    let second = app
        .handle(request_as(Some(&other), "POST", &path, &key))
        .await;
    assert_eq!(second.status(), 200);
    assert_eq!(body(&second), body(&first), "shipped is shipped");
    let requests: Vec<String> = ledger
        .record_keys()
        .into_iter()
        .filter(|k| k.contains("#POST "))
        .collect();
    assert_eq!(
        requests,
        [
            format!("fulfillment#{WAREHOUSE}#POST /fulfillments/{order}/ship#scan-1"),
            format!("fulfillment#w-2#POST /fulfillments/{order}/ship#scan-1"),
        ]
    );
    assert_eq!(
        types(&ledger.outbox()),
        ["FulfillmentStarted", "OrderShipped"]
    );
}
