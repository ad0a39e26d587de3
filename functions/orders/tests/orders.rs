//! The orders function against a real DynamoDB- and SQS-compatible server (moto).

use aws_sdk_dynamodb::types::AttributeValue;
use eventmart_shared::events::{Event, EventId, EventType};
use eventmart_shared::lambda::Function;
use eventmart_shared::producer::CALLER_FIELD_MESSAGE;
use eventmart_tests::{
    create_queue, create_tables, customer_claims, drain_queue, dynamodb, fixture, response_json,
    signed_in, sqs,
};
use lambda_http::Request;
use orders::{Deployed, DynamoOrders, Order, OrderRepository, Settings};
use serde_json::{Value, json};
use std::collections::HashMap;

struct Env {
    app: Deployed,
    client: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    orders_table: String,
    view_table: String,
    idempotency_table: String,
    dlq: String,
}

async fn env() -> Env {
    let (client, _) = dynamodb().await;
    let tables = create_tables(&client).await;
    let sqs = sqs().await;
    let dlq = create_queue(&sqs, "orders-dlq").await;
    let app = orders::app::build(
        &eventmart_tests::sdk_config().await,
        &Settings {
            orders_table: tables["OrdersTable"].clone(),
            member_view_table: tables["MemberViewTable"].clone(),
            idempotency_table: tables["IdempotencyTable"].clone(),
            dead_letter_queue_url: dlq.clone(),
        },
    );
    Env {
        app,
        client,
        sqs,
        orders_table: tables["OrdersTable"].clone(),
        view_table: tables["MemberViewTable"].clone(),
        idempotency_table: tables["IdempotencyTable"].clone(),
        dlq,
    }
}

/// The customer of the sample events (`events/orders/`): the tests sign in as her.
fn ada() -> Vec<(String, String)> {
    let claims =
        &fixture("events/orders/place-order.json")["requestContext"]["authorizer"]["jwt"]["claims"];
    customer_claims(
        claims["sub"].as_str().unwrap(),
        claims["email"].as_str().unwrap(),
    )
}

fn ada_request(method: &str, path: &str, body: Option<&Value>) -> Request {
    ada_request_with(method, path, body, &[])
}

fn ada_request_with(
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Request {
    signed_in(
        eventmart_tests::http_request_with(method, path, body, headers),
        &ada(),
    )
}

fn order_body() -> Value {
    json!({"currency": "EUR",
           "items": [{"sku": "SHOE-42", "quantity": 2, "unitPriceMinor": 4999},
                     {"sku": "SOCK-1", "quantity": 3, "unitPriceMinor": 500}]})
}

fn shipped_event(order_id: &str) -> Value {
    let mut ev = fixture("events/eventbridge/OrderShipped.json");
    ev["detail"]["data"]["orderId"] = json!(order_id);
    ev["detail"]["metadata"]["eventId"] = json!(EventId::new());
    ev
}

impl Env {
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        response_json(&self.app.handle(ada_request(method, path, body)).await)
    }

    async fn place(&self) -> Value {
        let (status, body) = self.call("POST", "/orders", Some(&order_body())).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    async fn items(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.scan(&self.orders_table).await
    }

    /// Every item of `table`, read consistently.
    async fn scan(&self, table: &str) -> Vec<HashMap<String, AttributeValue>> {
        self.client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }

    /// The number of idempotency records.
    async fn records(&self) -> i32 {
        self.client
            .scan()
            .table_name(&self.idempotency_table)
            .consistent_read(true)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap()
            .count()
    }

    async fn order_items(&self) -> usize {
        let items = self.items().await;
        items
            .iter()
            .filter(|i| i["pk"].as_s().unwrap().starts_with("ORDER#"))
            .count()
    }

    /// The outbox items, parsed as the relay and every consumer will parse them.
    async fn outbox(&self) -> Vec<Event> {
        eventmart_tests::outbox_events(&self.client, &self.orders_table).await
    }
}

#[tokio::test]
async fn place_get_and_cancel() {
    let env = env().await;
    let placed = env.place().await;
    let id = placed["orderId"].as_str().unwrap();
    assert_eq!(placed["status"], "PLACED");
    assert_eq!(
        placed["total"],
        json!({"amountMinor": 11498, "currency": "EUR"})
    );

    let events = env.outbox().await;
    let [Event::OrderPlaced(e)] = events.as_slice() else {
        panic!("one OrderPlaced expected, got {events:?}")
    };
    assert_eq!(e.data.order_id.to_string(), id);
    assert_eq!(e.data.items.len(), 2);
    assert_eq!(e.data.email.as_str(), "ada@example.com");
    assert_eq!(e.data.customer_id.to_string(), ada()[0].1);
    assert_eq!(placed["customerId"], ada()[0].1);

    let path = format!("/orders/{id}");
    assert_eq!(env.call("GET", &path, None).await, (200, placed.clone()));

    let cancel = format!("/orders/{id}/cancel");
    let (status, canceled) = env
        .call("POST", &cancel, Some(&json!({"reason": "wrong size"})))
        .await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], "CANCELED");
    assert_eq!(canceled["cancelReason"], "wrong size");
    assert_eq!(canceled["createdAt"], placed["createdAt"]);
    assert_eq!(env.call("GET", &path, None).await, (200, canceled));

    let events = env.outbox().await;
    let [_, Event::OrderCanceled(c)] = events.as_slice() else {
        panic!("OrderPlaced then OrderCanceled expected, got {events:?}")
    };
    assert_eq!(c.data.total.amount_minor.get(), 11498);
    assert_eq!(c.data.email.as_str(), "ada@example.com");
    assert_eq!(c.data.reason.to_string(), "wrong size");

    let (status, problem) = env
        .call("POST", &cancel, Some(&json!({"reason": "again"})))
        .await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(env.outbox().await.len(), 2);
}

#[tokio::test]
async fn not_found_and_conflict_paths() {
    let env = env().await;
    let unknown = EventId::new();
    assert_eq!(
        env.call("GET", &format!("/orders/{unknown}"), None).await.0,
        404
    );
    let reason = json!({"reason": "r"});
    let cancel = format!("/orders/{unknown}/cancel");
    assert_eq!(env.call("POST", &cancel, Some(&reason)).await.0, 404);
    assert_eq!(env.call("GET", "/orders/not-an-id", None).await.0, 404);

    // A shipped order cannot be canceled.
    let id = env.place().await["orderId"].as_str().unwrap().to_owned();
    env.app.on_event(&shipped_event(&id)).await.unwrap();
    let cancel = format!("/orders/{id}/cancel");
    let (status, problem) = env.call("POST", &cancel, Some(&reason)).await;
    assert_eq!(status, 409);
    assert!(problem["detail"].as_str().unwrap().contains("shipped"));
}

#[tokio::test]
async fn validation_errors_name_every_field_and_large_bodies_are_refused() {
    let env = env().await;
    let body = json!({"customerId": "", "email": "@", "currency": "XYZ",
                      "items": [{"sku": "A", "quantity": 1001, "unitPriceMinor": 1}]});
    // The customer fields are gone from the API: refused, named, whatever their value.
    let (status, problem) = env.call("POST", "/orders", Some(&body)).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["/customerId", "/email", "/currency", "/items/0/quantity"]
    );
    assert_eq!(problem["errors"][0]["message"], CALLER_FIELD_MESSAGE);
    assert_eq!(problem["errors"][1]["message"], CALLER_FIELD_MESSAGE);
    let big = json!({"currency": "c".repeat(65 * 1024)});
    let resp = env
        .app
        .handle(ada_request("POST", "/orders", Some(&big)))
        .await;
    assert_eq!(resp.status(), 413);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert_eq!(env.order_items().await, 0);
    assert!(env.outbox().await.is_empty());
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response_and_rejects_another_body() {
    let env = env().await;
    let send = |body: Value| {
        env.app.handle(ada_request_with(
            "POST",
            "/orders",
            Some(&body),
            &[("idempotency-key", "order-1")],
        ))
    };
    let first = send(order_body()).await;
    let second = send(order_body()).await;
    assert_eq!(first.headers()["location"], second.headers()["location"]);
    let first = response_json(&first);
    assert_eq!(first.0, 201);
    assert_eq!(response_json(&second), first);
    assert_eq!(env.order_items().await, 1);
    assert_eq!(env.outbox().await.len(), 1);

    let mut other = order_body();
    other["items"][0]["quantity"] = json!(3);
    let (status, problem) = response_json(&send(other).await);
    assert_eq!(status, 422);
    assert_eq!(
        problem["type"],
        "urn:eventmart:problem:idempotency-key-reused"
    );
    assert_eq!(env.order_items().await, 1);
    assert_eq!(env.outbox().await.len(), 1);

    // A cancel retried after it succeeded replays its 200.
    let id = first.1["orderId"].as_str().unwrap();
    let cancel = || {
        env.app.handle(ada_request_with(
            "POST",
            &format!("/orders/{id}/cancel"),
            Some(&json!({"reason": "r"})),
            &[("idempotency-key", "cancel-1")],
        ))
    };
    let c1 = response_json(&cancel().await);
    assert_eq!(c1.0, 200);
    assert_eq!(response_json(&cancel().await), c1);
    assert_eq!(env.outbox().await.len(), 2);
}

#[tokio::test]
async fn concurrent_cancels_of_one_order_cancel_it_once() {
    let env = env().await;
    for keyed in [false, true] {
        let id = env.place().await["orderId"].as_str().unwrap().to_owned();
        let path = format!("/orders/{id}/cancel");
        let requests = (0..2).map(|i| {
            let key = format!("race-{id}-{i}");
            let headers: Vec<(&str, &str)> = if keyed {
                vec![("idempotency-key", key.as_str())]
            } else {
                vec![]
            };
            let req = ada_request_with("POST", &path, Some(&json!({"reason": "race"})), &headers);
            env.app.handle(req)
        });
        let mut statuses: Vec<u16> = futures::future::join_all(requests)
            .await
            .iter()
            .map(|r| r.status().as_u16())
            .collect();
        statuses.sort();
        assert_eq!(statuses, vec![200, 409], "keyed: {keyed}");
    }
    let canceled = env
        .outbox()
        .await
        .iter()
        .filter(|e| e.event_type() == EventType::OrderCanceled)
        .count();
    assert_eq!(canceled, 2);
}

#[tokio::test]
async fn order_shipped_twice_changes_the_order_once() {
    let env = env().await;
    let id = env.place().await["orderId"].as_str().unwrap().to_owned();
    let event = shipped_event(&id);
    let first = env.app.on_event(&event).await.unwrap();
    let (_, shipped) = env.call("GET", &format!("/orders/{id}"), None).await;
    assert_eq!(shipped["status"], "SHIPPED");
    let second = env.app.on_event(&event).await.unwrap();
    assert_eq!(first, second);
    let (_, again) = env.call("GET", &format!("/orders/{id}"), None).await;
    assert_eq!(again["updatedAt"], shipped["updatedAt"]);
    assert!(drain_queue(&env.sqs, &env.dlq).await.is_empty());

    // Shipping a canceled order leaves it canceled.
    let id = env.place().await["orderId"].as_str().unwrap().to_owned();
    env.call(
        "POST",
        &format!("/orders/{id}/cancel"),
        Some(&json!({"reason": "r"})),
    )
    .await;
    env.app.on_event(&shipped_event(&id)).await.unwrap();
    let (_, order) = env.call("GET", &format!("/orders/{id}"), None).await;
    assert_eq!(order["status"], "CANCELED");
}

#[tokio::test]
async fn malformed_and_unknown_order_shipped_are_dead_lettered() {
    let env = env().await;
    let mut malformed = shipped_event("x");
    malformed["detail"]["data"]["orderId"] = json!("not-a-uuid");
    let out = env.app.on_event(&malformed).await.unwrap();
    assert!(out["deadLettered"].is_string());
    let unknown = shipped_event(&EventId::new().to_string());
    env.app.on_event(&unknown).await.unwrap();
    let messages = drain_queue(&env.sqs, &env.dlq).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["function"], "orders");
    assert!(messages[0]["reason"].as_str().unwrap().contains("orderId"));
    assert_eq!(messages[0]["event"], malformed);
    assert!(
        messages[1]["reason"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
}

#[tokio::test]
async fn sample_events_run_through_the_handler() {
    let env = env().await;
    // The samples name this order; it exists before they run.
    let id = "0193b3a4-1111-7aaa-8bbb-000000000001";
    let mut order: Order = serde_json::from_value(env.place().await).unwrap();
    order.order_id = id.parse().unwrap();
    let repo = DynamoOrders::new(env.client.clone(), &env.orders_table, &env.view_table);
    env.client
        .transact_write_items()
        .transact_items(repo.insert(&order))
        .send()
        .await
        .unwrap();

    let dir = eventmart_tests::repo_root().join("events/orders");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let expected = HashMap::from([
        ("cancel-order.json", 200),
        ("get-order.json", 200),
        ("place-order.json", 201),
    ]);
    assert_eq!(files.len(), expected.len());
    for path in files {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let req = lambda_http::request::from_str(&text).unwrap();
        // As API Gateway sends them: the claims of Ada's id token, every value a string.
        let caller = eventmart_shared::auth::caller(&req).unwrap();
        assert_eq!(caller.customer_id().to_string(), ada()[0].1, "{name}");
        assert_eq!(caller.verified_email().unwrap().as_str(), "ada@example.com");
        let (status, body) = response_json(&env.app.handle(req).await);
        assert_eq!(status, expected[name.as_str()], "{name}: {body}");
    }
    let (_, order) = env.call("GET", &format!("/orders/{id}"), None).await;
    assert_eq!(order["status"], "CANCELED");

    // The same payloads through the Lambda entry point, as `cargo lambda invoke` sends them.
    let invoke = |payload: Value| {
        env.app.invoke(lambda_runtime::LambdaEvent::new(
            payload,
            lambda_runtime::Context::default(),
        ))
    };
    let response = invoke(fixture("events/orders/get-order.json"))
        .await
        .unwrap();
    assert_eq!(response["statusCode"], 200);
    let shipped = invoke(fixture("events/eventbridge/OrderShipped.json"))
        .await
        .unwrap();
    assert_eq!(shipped["status"], "CANCELED");
}

#[tokio::test]
async fn another_customers_order_is_unknown_and_keys_are_per_customer() {
    let env = env().await;
    let bob = customer_claims("0c9b8a7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d", "bob@example.com");
    let as_bob = |method: &str, path: &str, body: Option<&Value>, headers: &[(&str, &str)]| {
        signed_in(
            eventmart_tests::http_request_with(method, path, body, headers),
            &bob,
        )
    };
    let key = [("idempotency-key", "same-key")];
    let adas = response_json(
        &env.app
            .handle(ada_request_with(
                "POST",
                "/orders",
                Some(&order_body()),
                &key,
            ))
            .await,
    );
    assert_eq!(adas.0, 201);
    let id = adas.1["orderId"].as_str().unwrap().to_owned();
    // Bob's same key is his own order, never Ada's stored answer.
    let (status, bobs) = response_json(
        &env.app
            .handle(as_bob("POST", "/orders", Some(&order_body()), &key))
            .await,
    );
    assert_eq!(status, 201, "{bobs}");
    assert_ne!(bobs["orderId"].as_str(), Some(id.as_str()));
    assert_eq!(bobs["customerId"], bob[0].1);
    assert_eq!(env.order_items().await, 2);

    // Ada's order to Bob: the unknown order's answer, and nothing written.
    let items = env.items().await.len();
    let records = env.records().await;
    let unknown = eventmart_shared::events::OrderId::new();
    let reason = json!({"reason": "not mine"});
    for (path, unknown_path, body) in [
        (format!("/orders/{id}"), format!("/orders/{unknown}"), None),
        (
            format!("/orders/{id}/cancel"),
            format!("/orders/{unknown}/cancel"),
            Some(&reason),
        ),
    ] {
        let method = if body.is_some() { "POST" } else { "GET" };
        let (status, foreign) =
            response_json(&env.app.handle(as_bob(method, &path, body, &key)).await);
        let (_, none) = response_json(
            &env.app
                .handle(as_bob(method, &unknown_path, body, &key))
                .await,
        );
        assert_eq!(status, 404, "{method} {path}: {foreign}");
        assert_eq!(
            foreign["detail"].as_str().unwrap().replace(&id, "<id>"),
            none["detail"]
                .as_str()
                .unwrap()
                .replace(&unknown.to_string(), "<id>")
        );
        assert_eq!(foreign["type"], none["type"]);
    }
    assert_eq!(env.items().await.len(), items, "a refusal wrote");
    assert_eq!(
        env.records().await,
        records,
        "a refusal kept an idempotency record"
    );
    let (_, order) = env.call("GET", &format!("/orders/{id}"), None).await;
    assert_eq!(order, adas.1);
    assert_eq!(env.outbox().await.len(), 2);
}

/// A membership event of Ada's with a fresh event id.
fn membership_event(detail_type: &str, membership_id: &str, plan: &str) -> Value {
    let mut ev = fixture(&format!("events/eventbridge/{detail_type}.json"));
    ev["detail"]["metadata"]["eventId"] = json!(EventId::new());
    ev["detail"]["data"]["customerId"] = json!(ada()[0].1);
    ev["detail"]["data"]["membershipId"] = json!(membership_id);
    ev["detail"]["data"]["plan"] = json!(plan);
    ev
}

impl Env {
    /// The member view's items, as stored.
    async fn view(&self) -> Vec<HashMap<String, AttributeValue>> {
        self.scan(&self.view_table).await
    }
}

#[tokio::test]
async fn the_member_view_is_written_once_per_event_and_prices_the_next_order() {
    let env = env().await;
    let id = "0193b3a4-2222-7aaa-8bbb-00000000d001";
    let signed_up = membership_event("MembershipSignedUp", id, "annual");
    let first = env.app.on_event(&signed_up).await.unwrap();
    let records = env.records().await;
    let again = env.app.on_event(&signed_up).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(
        env.records().await,
        records,
        "the duplicate writes no record"
    );
    let view = env.view().await;
    assert_eq!(view.len(), 1);
    let item = &view[0];
    assert_eq!(item["customerId"].as_s().unwrap(), &ada()[0].1);
    assert_eq!(item["membershipId"].as_s().unwrap(), id);
    assert_eq!(item["plan"].as_s().unwrap(), "annual");
    assert_eq!(item["status"].as_s().unwrap(), "ACTIVE");
    // No email in the view: it needs none.
    assert!(!item.contains_key("email"));

    let order = env.place().await;
    assert_eq!(order["subtotal"]["amountMinor"], 11498);
    assert_eq!(order["discount"]["amountMinor"], 1149);
    assert_eq!(order["total"]["amountMinor"], 10349);
    assert_eq!(order["membership"]["membershipId"], id);
    let placed = env.outbox().await;
    let Some(Event::OrderPlaced(e)) = placed.last() else {
        panic!("OrderPlaced expected: {placed:?}")
    };
    assert_eq!(e.data.discount.amount_minor.get(), 1149);

    env.app
        .on_event(&membership_event("MembershipCanceled", id, "annual"))
        .await
        .unwrap();
    let view = env.view().await;
    assert_eq!(view[0]["status"].as_s().unwrap(), "CANCELED");
    let order = env.place().await;
    assert_eq!(order["discount"]["amountMinor"], 0);
    assert_eq!(order["total"]["amountMinor"], 11498);
    assert!(order.get("membership").is_none(), "{order}");
    assert!(drain_queue(&env.sqs, &env.dlq).await.is_empty());
}

#[tokio::test]
async fn a_cancel_that_arrives_first_leaves_a_tombstone_its_sign_up_cannot_undo() {
    let env = env().await;
    let id = "0193b3a4-2222-7aaa-8bbb-00000000e001";
    env.app
        .on_event(&membership_event("MembershipCanceled", id, "monthly"))
        .await
        .unwrap();
    env.app
        .on_event(&membership_event("MembershipSignedUp", id, "monthly"))
        .await
        .unwrap();
    let view = env.view().await;
    assert_eq!(view.len(), 1);
    assert_eq!(view[0]["status"].as_s().unwrap(), "CANCELED");
    assert_eq!(env.place().await["discount"]["amountMinor"], 0);

    // Joining again is a new membership: a member again.
    let again = "0193b3a4-2222-7aaa-8bbb-00000000e002";
    env.app
        .on_event(&membership_event("MembershipSignedUp", again, "monthly"))
        .await
        .unwrap();
    let order = env.place().await;
    assert_eq!(order["discount"]["amountMinor"], 574);
    assert_eq!(order["membership"]["membershipId"], again);
}

#[tokio::test]
async fn concurrent_deliveries_of_a_sign_up_and_its_cancel_end_canceled() {
    let env = env().await;
    for i in 0..5 {
        let id = format!("0193b3a4-2222-7aaa-8bbb-00000000f{i:03}");
        let up = membership_event("MembershipSignedUp", &id, "annual");
        let down = membership_event("MembershipCanceled", &id, "annual");
        // Each delivery is retried until it is done, as Lambda's retries would.
        let deliver = |event: Value| {
            let app = &env.app;
            async move {
                for _ in 0..10 {
                    if app.on_event(&event).await.is_ok() {
                        return;
                    }
                }
                panic!("never applied");
            }
        };
        futures::future::join(deliver(up), deliver(down)).await;
    }
    let view = env.view().await;
    assert_eq!(view.len(), 5);
    for item in &view {
        assert_eq!(item["status"].as_s().unwrap(), "CANCELED", "{item:?}");
    }
    assert_eq!(env.place().await["discount"]["amountMinor"], 0);
}
