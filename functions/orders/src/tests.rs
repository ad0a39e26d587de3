//! The handler over in-memory ports.

use crate::App;
use crate::domain::{Order, OrderStatus};
use crate::members::{ViewEntry, ViewStatus};
use crate::memory::Memory;
use crate::ports::{MemberView, OrderRepository, RepoError};
use dynamodb_idempotency::{InMemoryStore, InMemoryWrite};
use eventmart_shared::consumer::InMemoryDeadLetters;
use eventmart_shared::events::{CustomerId, Event, EventId, MembershipId, OrderId};
use eventmart_shared::producer::CALLER_FIELD_MESSAGE;
use eventmart_tests::{customer_claims, fixture, response_json, signed_in};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use std::sync::Arc;

type Mem = App<Memory, Arc<InMemoryStore>, InMemoryDeadLetters>;

fn app() -> (Mem, Memory) {
    let mem = Memory::default();
    (
        App::new(
            mem.clone(),
            mem.store.clone(),
            InMemoryDeadLetters::default(),
        ),
        mem,
    )
}

/// Ada's and Bob's Cognito subs: the customers the tests sign in as.
const ADA: &str = "7d4e2a1c-5b3f-4e8a-9c6d-1f2e3a4b5c6d";
const BOB: &str = "0c9b8a7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d";

fn ada() -> Vec<(String, String)> {
    customer_claims(ADA, "ada@example.com")
}

fn bob() -> Vec<(String, String)> {
    customer_claims(BOB, "bob@example.com")
}

/// A request of Ada's, behind the JWT authorizer.
fn ada_request(method: &str, path: &str, body: Option<&Value>) -> Request {
    ada_request_with(method, path, body, &[])
}

fn ada_request_with(
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Request {
    let req = eventmart_tests::http_request_with(method, path, body, headers);
    signed_in(req, &ada())
}

/// A request of the caller of `claims` (none: no authorizer ran).
fn request_as(
    claims: Option<&[(String, String)]>,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Request {
    let req = eventmart_tests::http_request_with(method, path, body, headers);
    match claims {
        Some(claims) => signed_in(req, claims),
        None => req,
    }
}

fn order_body() -> Value {
    json!({"currency": "EUR",
           "items": [{"sku": "SHOE-42", "quantity": 2, "unitPriceMinor": 4999},
                     {"sku": "SOCK-1", "quantity": 3, "unitPriceMinor": 500}]})
}

/// Status, headers and the exact bytes of a response's body.
fn raw(resp: &Response<Body>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    headers.sort();
    (
        resp.status().as_u16(),
        headers,
        resp.body().as_ref().to_vec(),
    )
}

async fn call(app: &Mem, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    response_json(&app.handle(ada_request(method, path, body)).await)
}

async fn place(app: &Mem) -> String {
    let (status, body) = call(app, "POST", "/orders", Some(&order_body())).await;
    assert_eq!(status, 201, "{body}");
    body["orderId"].as_str().unwrap().to_owned()
}

fn shipped_event(order_id: &str) -> Value {
    let mut ev = fixture("events/eventbridge/OrderShipped.json");
    ev["detail"]["data"]["orderId"] = json!(order_id);
    ev["detail"]["metadata"]["eventId"] = json!(EventId::new());
    ev
}

fn fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn place_returns_the_order_and_writes_its_outbox_event() {
    let (app, mem) = app();
    let resp = app
        .handle(ada_request_with(
            "POST",
            "/orders",
            Some(&order_body()),
            &[("x-correlation-id", "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f")],
        ))
        .await;
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let (status, body) = response_json(&resp);
    assert_eq!(status, 201);
    let id = body["orderId"].as_str().unwrap();
    assert_eq!(location, format!("/orders/{id}"));
    assert_eq!(body["status"], "PLACED");
    assert_eq!(body["customerId"], ADA, "the customer is the token's sub");
    assert_eq!(
        body["email"], "ada@example.com",
        "and the email the token's"
    );
    assert_eq!(
        body["total"],
        json!({"amountMinor": 11498, "currency": "EUR"})
    );
    assert_eq!(
        body["items"][0],
        json!({"sku": "SHOE-42", "quantity": 2, "unitPrice": {"amountMinor": 4999, "currency": "EUR"}})
    );
    assert_eq!(body["createdAt"], body["updatedAt"]);
    assert_eq!(mem.item(&format!("ORDER#{id}")).unwrap(), body);
    assert_eq!(
        call(&app, "GET", &format!("/orders/{id}"), None).await,
        (200, body.clone())
    );

    let events = mem.outbox();
    let [Event::OrderPlaced(e)] = events.as_slice() else {
        panic!("one OrderPlaced expected, got {events:?}")
    };
    assert_eq!(e.data.order_id.to_string(), id);
    assert_eq!(e.data.total.amount_minor.get(), 11498);
    assert_eq!(
        e.metadata.correlation_id.to_string(),
        "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
    );
}

#[tokio::test]
async fn an_invalid_correlation_id_gets_a_fresh_one() {
    let (app, mem) = app();
    let resp = app
        .handle(ada_request_with(
            "POST",
            "/orders",
            Some(&order_body()),
            &[("x-correlation-id", "not-a-uuid")],
        ))
        .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(mem.outbox().len(), 1);
}

#[tokio::test]
async fn every_invalid_field_is_named() {
    let (app, mem) = app();
    let body = json!({"customerId": ADA, "email": "ada@example.com", "currency": "EURO", "extra": 1,
                      "items": [{"sku": "ok-lower", "quantity": 0, "unitPriceMinor": -1},
                                {"sku": "SKU-1", "quantity": 1}, 7]});
    let (status, problem) = call(&app, "POST", "/orders", Some(&body)).await;
    assert_eq!(status, 422);
    let mut got = fields(&problem);
    got.sort();
    assert_eq!(
        got,
        vec![
            "/currency",
            "/customerId",
            "/email",
            "/extra",
            "/items/0/quantity",
            "/items/0/sku",
            "/items/0/unitPriceMinor",
            "/items/1/unitPriceMinor",
            "/items/2",
        ]
    );
    // The fields that named the customer are gone from the API, even with the caller's
    // own values: the customer is the signed-in caller.
    for e in problem["errors"].as_array().unwrap() {
        let expected = match e["field"].as_str().unwrap() {
            "/customerId" | "/email" => Some(CALLER_FIELD_MESSAGE),
            "/extra" => Some("is not a known field"),
            _ => None,
        };
        if let Some(message) = expected {
            assert_eq!(e["message"], message, "{e}");
        }
    }
    assert!(mem.store.committed().is_empty());
}

#[tokio::test]
async fn item_count_and_total_are_bounded() {
    let (app, _) = app();
    let mut body = order_body();
    body["items"] = json!([]);
    let (status, p) = call(&app, "POST", "/orders", Some(&body)).await;
    assert_eq!((status, fields(&p)), (422, vec!["/items"]));
    body["items"] = json!(vec![
        json!({"sku": "A", "quantity": 1, "unitPriceMinor": 1});
        101
    ]);
    let (status, p) = call(&app, "POST", "/orders", Some(&body)).await;
    assert_eq!((status, fields(&p)), (422, vec!["/items"]));
    body["items"] = json!([{"sku": "A", "quantity": 1000, "unitPriceMinor": 9007199254740991u64}]);
    body["currency"] = json!("eur");
    let (status, p) = call(&app, "POST", "/orders", Some(&body)).await;
    assert_eq!((status, fields(&p)), (422, vec!["/currency", "/items"]));
    assert!(
        p["errors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("total")
    );
}

#[tokio::test]
async fn client_mistakes_are_4xx_problems() {
    let (app, _) = app();
    let big = json!({"currency": "x".repeat(70 * 1024)});
    let resp = app.handle(ada_request("POST", "/orders", Some(&big))).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");

    let mut req = ada_request("POST", "/orders", None);
    *req.body_mut() = lambda_http::Body::Text("{not json".into());
    assert_eq!(app.handle(req).await.status(), 400);

    let resp = app.handle(ada_request("DELETE", "/orders", None)).await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let resp = app.handle(ada_request("PUT", "/orders/x", None)).await;
    assert_eq!(resp.headers()["allow"], "GET");
    let resp = app
        .handle(ada_request("GET", "/orders/x/cancel", None))
        .await;
    assert_eq!(resp.headers()["allow"], "POST");

    assert_eq!(call(&app, "GET", "/nowhere", None).await.0, 404);
    assert_eq!(call(&app, "GET", "/orders/not-a-uuid", None).await.0, 404);
    let unknown = format!("/orders/{}", EventId::new());
    assert_eq!(call(&app, "GET", &unknown, None).await.0, 404);
    let reason = json!({"reason": "x"});
    let cancel = format!("{unknown}/cancel");
    assert_eq!(call(&app, "POST", &cancel, Some(&reason)).await.0, 404);
    assert_eq!(
        call(&app, "POST", "/orders/123/cancel", Some(&reason))
            .await
            .0,
        404
    );
    let bad_key = ada_request_with(
        "POST",
        "/orders",
        Some(&order_body()),
        &[("idempotency-key", "")],
    );
    assert_eq!(app.handle(bad_key).await.status(), 400);
}

#[tokio::test]
async fn cancel_once_then_conflict() {
    let (app, mem) = app();
    let id = place(&app).await;
    let path = format!("/orders/{id}/cancel");
    let (status, body) = call(&app, "POST", &path, Some(&json!({"reason": ""}))).await;
    assert_eq!((status, fields(&body)), (422, vec!["/reason"]));
    let (status, body) = call(&app, "POST", &path, Some(&json!({"reason": "too late"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "CANCELED");
    assert_eq!(body["cancelReason"], "too late");
    let (status, _) = call(&app, "POST", &path, Some(&json!({"reason": "again"}))).await;
    assert_eq!(status, 409);
    let events = mem.outbox();
    let [_, Event::OrderCanceled(c)] = events.as_slice() else {
        panic!("OrderPlaced then OrderCanceled expected")
    };
    assert_eq!(c.data.total.amount_minor.get(), 11498);
    assert_eq!(c.data.reason.to_string(), "too late");
}

#[tokio::test]
async fn idempotency_key_replays_and_rejects_another_body() {
    let (app, mem) = app();
    let send = |body: Value| {
        app.handle(ada_request_with(
            "POST",
            "/orders",
            Some(&body),
            &[("idempotency-key", "k-1")],
        ))
    };
    let first = send(order_body()).await;
    let second = send(order_body()).await;
    assert_eq!(second.headers()["location"], first.headers()["location"]);
    assert_eq!(response_json(&first), response_json(&second));
    assert_eq!(response_json(&first).0, 201);
    assert_eq!(mem.outbox().len(), 1);
    let mut other = order_body();
    other["currency"] = json!("USD");
    assert_eq!(response_json(&send(other).await).0, 422);
    assert_eq!(mem.outbox().len(), 1);

    // The retry of a cancel that succeeded replays its 200, not "already canceled".
    let id = response_json(&first).1["orderId"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancel = |reason: &str| {
        app.handle(ada_request_with(
            "POST",
            &format!("/orders/{id}/cancel"),
            Some(&json!({"reason": reason})),
            &[("idempotency-key", "k-1")],
        ))
    };
    let (s1, b1) = response_json(&cancel("no").await);
    let (s2, b2) = response_json(&cancel("no").await);
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(s1, 200);
    assert_eq!(mem.outbox().len(), 2);
    let (status, _) = response_json(&cancel("other reason").await);
    assert_eq!(status, 422);
}

#[tokio::test]
async fn order_shipped_ships_once_and_canceled_orders_stay_canceled() {
    let (app, mem) = app();
    let id = place(&app).await;
    let event = shipped_event(&id);
    app.on_event(&event).await.unwrap();
    app.on_event(&event).await.unwrap();
    let (_, body) = call(&app, "GET", &format!("/orders/{id}"), None).await;
    assert_eq!(body["status"], "SHIPPED");
    let writes = mem.store.committed().len();
    // Another shipment notice for a shipped order changes nothing.
    app.on_event(&shipped_event(&id)).await.unwrap();
    assert_eq!(mem.store.committed().len(), writes);

    let canceled = place(&app).await;
    let path = format!("/orders/{canceled}/cancel");
    call(&app, "POST", &path, Some(&json!({"reason": "r"}))).await;
    app.on_event(&shipped_event(&canceled)).await.unwrap();
    let (_, body) = call(&app, "GET", &format!("/orders/{canceled}"), None).await;
    assert_eq!(body["status"], "CANCELED");
    assert!(app.dead_letters.messages.lock().unwrap().is_empty());
}

#[tokio::test]
async fn unknown_orders_and_malformed_events_are_dead_lettered() {
    let (app, _) = app();
    let unknown = shipped_event(&EventId::new().to_string());
    let out = app.on_event(&unknown).await.unwrap();
    assert!(
        out["deadLettered"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    let mut malformed = shipped_event("nope");
    malformed["detail"]["data"]["orderId"] = json!(42);
    app.on_event(&malformed).await.unwrap();
    let placed = fixture("events/eventbridge/OrderPlaced.json");
    app.on_event(&placed).await.unwrap();
    let dlq = app.dead_letters.messages.lock().unwrap();
    assert_eq!(dlq.len(), 3);
    assert_eq!(dlq[1]["function"], "orders");
    assert!(dlq[1]["reason"].as_str().unwrap().contains("orderId"));
    assert!(dlq[2]["reason"].as_str().unwrap().contains("OrderPlaced"));
}

/// The in-memory orders whose reads fail with `error`.
struct Failing {
    memory: Memory,
    error: RepoError,
}

impl OrderRepository for Failing {
    type Write = InMemoryWrite;

    async fn get(&self, _id: OrderId) -> Result<Option<Order>, RepoError> {
        Err(self.error.clone())
    }
    fn insert(&self, order: &Order) -> InMemoryWrite {
        self.memory.insert(order)
    }
    fn transition(&self, order: &Order, from: OrderStatus) -> InMemoryWrite {
        self.memory.transition(order, from)
    }
    fn outbox(&self, event: &Event, now_secs: i64) -> InMemoryWrite {
        OrderRepository::outbox(&self.memory, event, now_secs)
    }
}

/// The member view of a test repository: its memory's.
macro_rules! member_view_of_memory {
    ($($ty:ty),*) => {$(
        impl MemberView for $ty {
            type Write = InMemoryWrite;

            async fn memberships(&self, customer: &CustomerId) -> Result<Vec<ViewEntry>, RepoError> {
                self.memory.memberships(customer).await
            }
            async fn entry(
                &self,
                customer: &CustomerId,
                membership: MembershipId,
            ) -> Result<Option<ViewEntry>, RepoError> {
                self.memory.entry(customer, membership).await
            }
            fn put(&self, entry: &ViewEntry, read: Option<ViewStatus>) -> InMemoryWrite {
                self.memory.put(entry, read)
            }
        }
    )*};
}
member_view_of_memory!(Failing, ShippedMeanwhile);

fn failing(error: RepoError) -> App<Failing, Arc<InMemoryStore>, InMemoryDeadLetters> {
    let memory = Memory::default();
    let store = memory.store.clone();
    App::new(
        Failing { memory, error },
        store,
        InMemoryDeadLetters::default(),
    )
}

#[tokio::test]
async fn a_permanent_read_failure_is_dead_lettered_and_a_transient_one_retried() {
    let event = shipped_event(&EventId::new().to_string());
    let refused = failing(RepoError::Refused {
        table: "orders",
        message: "UnrecognizedClientException".into(),
    });
    let out = refused.on_event(&event).await.unwrap();
    assert!(
        out["deadLettered"]
            .as_str()
            .unwrap()
            .contains("UnrecognizedClientException")
    );
    assert_eq!(refused.dead_letters.messages.lock().unwrap().len(), 1);
    // The same event again: the failed attempt left no record behind.
    refused.on_event(&event).await.unwrap();
    assert_eq!(refused.dead_letters.messages.lock().unwrap().len(), 2);

    let unavailable = failing(RepoError::Unavailable {
        table: "orders",
        message: "ThrottlingException".into(),
    });
    let e = unavailable.on_event(&event).await.unwrap_err();
    assert!(retryable::Retryable::is_retryable(&e));
    assert!(e.message.contains("ThrottlingException"), "{e}");
    assert!(unavailable.dead_letters.messages.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_read_over_http_is_503_and_writes_nothing() {
    let app = failing(RepoError::Unavailable {
        table: "orders",
        message: "down".into(),
    });
    let path = format!("/orders/{}", EventId::new());
    let resp = app.handle(ada_request("GET", &path, None)).await;
    assert_eq!(resp.status(), 503);
    let cancel = format!("{path}/cancel");
    let (status, p) = response_json(
        &app.handle(ada_request_with(
            "POST",
            &cancel,
            Some(&json!({"reason": "r"})),
            &[("idempotency-key", "k")],
        ))
        .await,
    );
    assert_eq!(status, 503, "{p}");
    assert_eq!(p["detail"], "the order could not be read; retry later");
}

#[tokio::test]
async fn malformed_and_unknown_ids_get_the_same_answer() {
    let (app, _) = app();
    let unknown = EventId::new().to_string();
    for id in ["not-a-uuid", unknown.as_str()] {
        let (status, p) = call(&app, "GET", &format!("/orders/{id}"), None).await;
        assert_eq!(
            (status, p["detail"].as_str()),
            (404, Some(format!("order {id} does not exist").as_str()))
        );
        let cancel = format!("/orders/{id}/cancel");
        let (status, p) = call(&app, "POST", &cancel, Some(&json!({"reason": "r"}))).await;
        assert_eq!(
            (status, p["detail"].as_str()),
            (404, Some(format!("order {id} does not exist").as_str()))
        );
    }
}

/// The in-memory orders where another writer ships the order between this request's
/// read and its write: the read returns PLACED, the store then holds SHIPPED.
struct ShippedMeanwhile {
    memory: Memory,
    shipped: std::sync::atomic::AtomicBool,
}

impl OrderRepository for ShippedMeanwhile {
    type Write = InMemoryWrite;

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepoError> {
        let read = self.memory.get(id).await?;
        let first = !self.shipped.swap(true, std::sync::atomic::Ordering::SeqCst);
        if let (Some(order), true) = (&read, first) {
            let mut other = order.clone();
            other.status = OrderStatus::Shipped;
            let write = self.memory.transition(&other, OrderStatus::Placed);
            dynamodb_idempotency::Store::write(&*self.memory.store, vec![write])
                .await
                .unwrap();
        }
        Ok(read)
    }
    fn insert(&self, order: &Order) -> InMemoryWrite {
        self.memory.insert(order)
    }
    fn transition(&self, order: &Order, from: OrderStatus) -> InMemoryWrite {
        self.memory.transition(order, from)
    }
    fn outbox(&self, event: &Event, now_secs: i64) -> InMemoryWrite {
        OrderRepository::outbox(&self.memory, event, now_secs)
    }
}

/// The race DynamoDB's condition decides, decided the same way in memory: a cancel that
/// read PLACED loses to the shipment that landed before its write, commits nothing and
/// answers 409 with the order's state now.
#[tokio::test]
async fn a_cancel_that_loses_the_race_to_a_shipment_commits_nothing() {
    let (placing, memory) = app();
    let id = place(&placing).await;
    memory.store.take_committed();
    let racing = App::new(
        ShippedMeanwhile {
            memory: memory.clone(),
            shipped: Default::default(),
        },
        memory.store.clone(),
        InMemoryDeadLetters::default(),
    );
    let resp = racing
        .handle(ada_request(
            "POST",
            &format!("/orders/{id}/cancel"),
            Some(&json!({"reason": "changed my mind"})),
        ))
        .await;
    let (status, body) = response_json(&resp);
    assert_eq!(status, 409, "{body}");
    assert_eq!(
        body["detail"],
        "the order is SHIPPED and can no longer be canceled"
    );
    let key = crate::dynamo::pk(id.parse().unwrap());
    assert_eq!(memory.item(&key).unwrap()["status"], "SHIPPED");
    let committed = memory.store.take_committed();
    assert_eq!(
        committed.len(),
        1,
        "only the shipment landed: {committed:?}"
    );
    assert!(memory.outbox().is_empty(), "no OrderCanceled");
}

/// A 401 problem as the function answers a request no authorizer passed.
fn assert_unauthenticated(resp: &Response<Body>, what: &str) {
    assert_eq!(resp.status(), 401, "{what}");
    assert_eq!(
        resp.headers()["content-type"],
        "application/problem+json",
        "{what}"
    );
    assert_eq!(resp.headers()["www-authenticate"], "Bearer", "{what}");
    let (_, body) = response_json(resp);
    assert_eq!(
        body["type"], "urn:eventmart:problem:unauthenticated",
        "{what}"
    );
    assert_eq!(body["status"], 401, "{what}");
}

#[tokio::test]
async fn without_claims_every_route_is_401_and_writes_nothing() {
    let (app, mem) = app();
    let id = place(&app).await;
    let before = mem.item(&format!("ORDER#{id}")).unwrap();
    mem.store.take_committed();
    let key = [("idempotency-key", "k-401")];
    let reason = json!({"reason": "r"});
    let cancel = format!("/orders/{id}/cancel");
    let get = format!("/orders/{id}");
    let no_sub = vec![("email".to_owned(), "ada@example.com".to_owned())];
    for claims in [None, Some(no_sub.as_slice())] {
        let requests = [
            request_as(claims, "POST", "/orders", Some(&order_body()), &key),
            // Checked before the body: a bad one is not looked at.
            request_as(claims, "POST", "/orders", Some(&json!([])), &[]),
            request_as(claims, "GET", &get, None, &[]),
            request_as(claims, "GET", "/orders/not-an-id", None, &[]),
            request_as(claims, "POST", &cancel, Some(&reason), &key),
            request_as(claims, "POST", &cancel, Some(&reason), &[]),
        ];
        for req in requests {
            let what = format!("{} {} ({claims:?})", req.method(), req.uri());
            assert_unauthenticated(&app.handle(req).await, &what);
        }
    }
    assert!(mem.store.committed().is_empty(), "a refusal wrote");
    assert_eq!(mem.item(&format!("ORDER#{id}")).unwrap(), before);
    // No record under the key: Ada's own request with it is a new one.
    let mut other = order_body();
    other["currency"] = json!("USD");
    let resp = app
        .handle(ada_request_with("POST", "/orders", Some(&other), &key))
        .await;
    assert_eq!(resp.status(), 201);
    // Routing still comes first: an unknown path or method is no authorization question.
    let resp = app
        .handle(eventmart_tests::http_request("GET", "/nowhere", None))
        .await;
    assert_eq!(resp.status(), 404);
    let resp = app
        .handle(eventmart_tests::http_request("DELETE", "/orders", None))
        .await;
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn the_customer_and_email_are_the_tokens_never_the_bodys() {
    let (app, mem) = app();
    let resp = app
        .handle(request_as(
            Some(&bob()),
            "POST",
            "/orders",
            Some(&order_body()),
            &[],
        ))
        .await;
    let (status, order) = response_json(&resp);
    assert_eq!(status, 201, "{order}");
    assert_eq!(
        (order["customerId"].as_str(), order["email"].as_str()),
        (Some(BOB), Some("bob@example.com"))
    );
    let events = mem.outbox();
    let [Event::OrderPlaced(e)] = events.as_slice() else {
        panic!("one OrderPlaced expected, got {events:?}")
    };
    assert_eq!(e.data.customer_id.to_string(), BOB);
    assert_eq!(e.data.email.as_str(), "bob@example.com");
    mem.store.take_committed();

    // A body that still names a customer or an email is refused, naming the field, even
    // when it names the caller: the fields are gone from the API.
    for (field, value) in [
        ("customerId", json!(ADA)),
        ("customerId", json!(BOB)),
        ("customerId", Value::Null),
        ("email", json!("bob@example.com")),
    ] {
        let mut body = order_body();
        body[field] = value.clone();
        let resp = app
            .handle(request_as(
                Some(&bob()),
                "POST",
                "/orders",
                Some(&body),
                &[],
            ))
            .await;
        let (status, problem) = response_json(&resp);
        assert_eq!(status, 422, "{field}: {value}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        assert_eq!(
            problem["errors"],
            json!([{"field": format!("/{field}"), "message": CALLER_FIELD_MESSAGE}]),
            "{field}: {value}"
        );
    }
    assert!(mem.store.committed().is_empty());
}

#[tokio::test]
async fn placing_needs_a_verified_email_in_the_token() {
    let (app, mem) = app();
    let mut unverified = customer_claims(ADA, "ada@example.com");
    unverified.retain(|(k, _)| k != "email_verified");
    unverified.push(("email_verified".into(), "false".into()));
    let mut no_email = customer_claims(ADA, "ada@example.com");
    no_email.retain(|(k, _)| k != "email");
    for claims in [unverified, no_email] {
        for body in [order_body(), json!({"customerId": "x"})] {
            let resp = app
                .handle(request_as(
                    Some(&claims),
                    "POST",
                    "/orders",
                    Some(&body),
                    &[],
                ))
                .await;
            let (status, problem) = response_json(&resp);
            assert_eq!(status, 403, "{problem}");
            assert_eq!(resp.headers()["content-type"], "application/problem+json");
            assert_eq!(problem["type"], "urn:eventmart:problem:forbidden");
            assert_eq!(
                problem["detail"],
                "the token carries no verified email; send the id token of a verified user"
            );
            assert!(!problem.to_string().contains("ada@"), "{problem}");
        }
    }
    assert!(mem.store.committed().is_empty());
}

/// The answers Bob gets for Ada's order `id`: the same requests, byte for byte, as he
/// gets in a store where no order `id` exists at all.
#[tokio::test]
async fn another_customers_order_is_answered_as_an_unknown_one_and_left_alone() {
    let (empty, _) = app();
    let (app, mem) = app();
    let id = place(&app).await;
    let placed = mem.item(&format!("ORDER#{id}")).unwrap();
    mem.store.take_committed();

    let reason = json!({"reason": "not mine"});
    let get = format!("/orders/{id}");
    let cancel = format!("/orders/{id}/cancel");
    let key = [("idempotency-key", "k-probe")];
    let requests = || {
        vec![
            request_as(Some(&bob()), "GET", &get, None, &[]),
            request_as(Some(&bob()), "POST", &cancel, Some(&reason), &[]),
            request_as(Some(&bob()), "POST", &cancel, Some(&reason), &key),
            // The same key again with another body: no record, so no 422 either.
            request_as(
                Some(&bob()),
                "POST",
                &cancel,
                Some(&json!({"reason": "b"})),
                &key,
            ),
        ]
    };
    for (foreign, unknown) in requests().into_iter().zip(requests()) {
        let what = format!("{} {}", foreign.method(), foreign.uri());
        let foreign = raw(&app.handle(foreign).await);
        let unknown = raw(&empty.handle(unknown).await);
        assert_eq!(foreign, unknown, "{what}");
        assert_eq!(foreign.0, 404, "{what}");
        let body: Value = serde_json::from_slice(&foreign.2).unwrap();
        assert_eq!(body["detail"], format!("order {id} does not exist"));
    }
    // Nothing written: no state change, no event, no idempotency record.
    assert!(mem.store.committed().is_empty());
    assert_eq!(mem.item(&format!("ORDER#{id}")).unwrap(), placed);
    let record = format!("orders#{BOB}#POST /orders/{id}/cancel#k-probe");
    assert!(mem.store.record(&record).is_none());

    // Ada still sees and cancels her order, with the same key Bob used.
    let (status, body) = call(&app, "GET", &get, None).await;
    assert_eq!((status, &body), (200, &placed));
    let resp = app
        .handle(ada_request_with("POST", &cancel, Some(&reason), &key))
        .await;
    assert_eq!(resp.status(), 200);
    // And once it is canceled, Bob still gets the unknown order's 404, not a 409.
    let resp = app
        .handle(request_as(
            Some(&bob()),
            "POST",
            &cancel,
            Some(&reason),
            &[],
        ))
        .await;
    assert_eq!(response_json(&resp).0, 404);
}

#[tokio::test]
async fn the_same_idempotency_key_from_two_customers_places_two_orders() {
    let (app, mem) = app();
    let key = [("idempotency-key", "shared-key")];
    let as_ada = || ada_request_with("POST", "/orders", Some(&order_body()), &key);
    let mut bobs_body = order_body();
    bobs_body["currency"] = json!("USD");
    let as_bob = |body: &Value| request_as(Some(&bob()), "POST", "/orders", Some(body), &key);

    let (status, adas) = response_json(&app.handle(as_ada()).await);
    assert_eq!(status, 201, "{adas}");
    // Bob's same key with the same body: his own order, not Ada's stored answer.
    let (status, bobs) = response_json(&app.handle(as_bob(&order_body())).await);
    assert_eq!(status, 201, "{bobs}");
    assert_ne!(bobs["orderId"], adas["orderId"]);
    assert_eq!(bobs["customerId"], BOB);
    assert_eq!(bobs["email"], "bob@example.com");
    // Each retry replays its own caller's answer.
    assert_eq!(
        response_json(&app.handle(as_ada()).await),
        (201, adas.clone())
    );
    assert_eq!(
        response_json(&app.handle(as_bob(&order_body())).await),
        (201, bobs.clone())
    );
    // Another body under Bob's key is Bob's reuse, 422; Ada's key is untouched by it.
    assert_eq!(response_json(&app.handle(as_bob(&bobs_body)).await).0, 422);
    assert_eq!(
        response_json(&app.handle(as_ada()).await),
        (201, adas.clone())
    );

    let events = mem.outbox();
    let customers: Vec<String> = events
        .iter()
        .map(|e| match e {
            Event::OrderPlaced(p) => p.data.customer_id.to_string(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(customers, [ADA, BOB]);

    // A third customer who sends the key first with another body is not told it is taken.
    let carol = customer_claims("carol", "carol@example.com");
    let resp = app
        .handle(request_as(
            Some(&carol),
            "POST",
            "/orders",
            Some(&bobs_body),
            &key,
        ))
        .await;
    assert_eq!(resp.status(), 201);
    assert_eq!(mem.outbox().len(), 3);
}

/// A membership event of Ada's, as EventBridge delivers it, with a fresh event id.
fn membership_event(detail_type: &str, membership_id: &str, plan: &str) -> Value {
    let mut ev = fixture(&format!("events/eventbridge/{detail_type}.json"));
    ev["detail"]["metadata"]["eventId"] = json!(EventId::new().to_string());
    ev["detail"]["data"]["customerId"] = json!(ADA);
    ev["detail"]["data"]["membershipId"] = json!(membership_id);
    ev["detail"]["data"]["plan"] = json!(plan);
    ev
}

async fn place_priced(app: &Mem) -> Value {
    let (status, body) = call(app, "POST", "/orders", Some(&order_body())).await;
    assert_eq!(status, 201, "{body}");
    body
}

fn prices(body: &Value) -> (Value, Value, Value, Value) {
    (
        body["subtotal"]["amountMinor"].clone(),
        body["discount"]["amountMinor"].clone(),
        body["total"]["amountMinor"].clone(),
        body["membership"].clone(),
    )
}

#[tokio::test]
async fn a_member_orders_at_the_member_price_until_the_cancel_arrives() {
    let (app, mem) = app();
    // Not a member: the full price, no membership.
    let body = place_priced(&app).await;
    assert_eq!(
        prices(&body),
        (json!(11498), json!(0), json!(11498), Value::Null)
    );
    assert_eq!(body["discount"]["currency"], "EUR");

    let id = "0193b3a4-2222-7aaa-8bbb-00000000a001";
    let signed_up = membership_event("MembershipSignedUp", id, "annual");
    app.on_event(&signed_up).await.unwrap();
    // 10 % of 114.98 is 11.498: 11.49 off.
    let body = place_priced(&app).await;
    assert_eq!(
        prices(&body),
        (
            json!(11498),
            json!(1149),
            json!(10349),
            json!({"membershipId": id, "plan": "annual", "discountBasisPoints": 1000})
        )
    );
    let events = mem.outbox();
    let Some(Event::OrderPlaced(placed)) = events.last() else {
        panic!("an OrderPlaced last, got {events:?}")
    };
    assert_eq!(placed.data.discount.amount_minor.get(), 1149);
    assert_eq!(placed.data.total.amount_minor.get(), 10349);
    assert_eq!(
        placed.data.membership.unwrap().membership_id.to_string(),
        id
    );

    // The cancel: full price again; a duplicate of the sign-up does not bring it back.
    app.on_event(&membership_event("MembershipCanceled", id, "annual"))
        .await
        .unwrap();
    app.on_event(&membership_event("MembershipSignedUp", id, "annual"))
        .await
        .unwrap();
    let body = place_priced(&app).await;
    assert_eq!(prices(&body).1, json!(0));
    assert_eq!(body["membership"], Value::Null);
    assert!(app.dead_letters.messages.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_cancel_before_its_sign_up_wins_and_a_new_membership_counts_again() {
    let (app, _mem) = app();
    let first = "0193b3a4-2222-7aaa-8bbb-00000000b001";
    app.on_event(&membership_event("MembershipCanceled", first, "monthly"))
        .await
        .unwrap();
    app.on_event(&membership_event("MembershipSignedUp", first, "monthly"))
        .await
        .unwrap();
    assert_eq!(prices(&place_priced(&app).await).1, json!(0));
    let second = "0193b3a4-2222-7aaa-8bbb-00000000b002";
    app.on_event(&membership_event("MembershipSignedUp", second, "monthly"))
        .await
        .unwrap();
    // 5 % of 114.98 is 5.749: 5.74 off.
    let body = place_priced(&app).await;
    assert_eq!(prices(&body).1, json!(574));
    assert_eq!(body["membership"]["membershipId"], second);
}

#[tokio::test]
async fn a_membership_event_is_applied_once_per_event_id() {
    let (app, mem) = app();
    let id = "0193b3a4-2222-7aaa-8bbb-00000000c001";
    let event = membership_event("MembershipSignedUp", id, "annual");
    let first = app.on_event(&event).await.unwrap();
    mem.store.take_committed();
    let again = app.on_event(&event).await.unwrap();
    assert_eq!(first, again, "the duplicate gets the first answer");
    assert!(mem.store.take_committed().is_empty(), "and writes nothing");
    // Another customer's membership is not Ada's.
    let mut bobs = membership_event(
        "MembershipSignedUp",
        "0193b3a4-2222-7aaa-8bbb-00000000c002",
        "annual",
    );
    bobs["detail"]["data"]["customerId"] = json!(BOB);
    app.on_event(&bobs).await.unwrap();
    let resp = app
        .handle(signed_in(
            eventmart_tests::http_request_with("POST", "/orders", Some(&order_body()), &[]),
            &bob(),
        ))
        .await;
    let (status, body) = response_json(&resp);
    assert_eq!(status, 201);
    assert_eq!(
        body["membership"]["membershipId"],
        "0193b3a4-2222-7aaa-8bbb-00000000c002"
    );
    let body = place_priced(&app).await;
    assert_eq!(body["membership"]["membershipId"], id);
}
