//! The fulfillment function against a real DynamoDB- and SQS-compatible server (moto).

use aws_sdk_dynamodb::types::AttributeValue;
use eventmart_shared::events::{EventId, OrderId};
use eventmart_shared::lambda::Function;
use eventmart_tests::{
    create_queue, create_tables, customer_claims, drain_queue, dynamodb, fixture, sdk_config,
    signed_in, sqs, staff_claims,
};
use fulfillment::app::{self, Deployed, Settings};
use lambda_http::Request;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

type Item = HashMap<String, AttributeValue>;

struct Env {
    app: Arc<Deployed>,
    client: aws_sdk_dynamodb::Client,
    table: String,
    sqs: aws_sdk_sqs::Client,
    dlq: String,
}

async fn env() -> Env {
    let (client, _) = dynamodb().await;
    let tables = create_tables(&client).await;
    let sqs = sqs().await;
    let dlq = create_queue(&sqs, "fulfillment-dlq").await;
    let table = tables["FulfillmentTable"].clone();
    let app = app::build(
        &sdk_config().await,
        &Settings {
            fulfillment_table: table.clone(),
            idempotency_table: tables["IdempotencyTable"].clone(),
            dead_letter_queue_url: dlq.clone(),
        },
    );
    Env {
        app: Arc::new(app),
        client,
        table,
        sqs,
        dlq,
    }
}

fn event(name: &str, order: OrderId) -> Value {
    let mut e = fixture(&format!("events/eventbridge/{name}.json"));
    e["detail"]["metadata"]["eventId"] = json!(EventId::new().to_string());
    e["detail"]["data"]["orderId"] = json!(order.to_string());
    e
}

/// A request of the warehouse user of the sample events, behind the JWT authorizer.
fn warehouse_request(method: &str, path: &str, body: Option<&Value>) -> Request {
    let req = eventmart_tests::http_request(method, path, body);
    signed_in(
        req,
        &staff_claims(
            "3f6a1b2c-4d5e-4f70-8a9b-0c1d2e3f4a5b",
            "warehouse@example.com",
            &["warehouse"],
        ),
    )
}

fn s<'a>(item: &'a Item, name: &str) -> &'a str {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or("")
}

impl Env {
    async fn items(&self) -> Vec<Item> {
        self.client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }

    async fn shipment(&self, order: OrderId) -> Option<Item> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("SHIPMENT#{order}")))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    /// Outbox items' detail types, in eventId (that is, time) order.
    async fn outbox(&self) -> Vec<Item> {
        let mut items: Vec<Item> = self
            .items()
            .await
            .into_iter()
            .filter(|i| s(i, "kind") == "outbox")
            .collect();
        items.sort_by(|a, b| s(a, "eventId").cmp(s(b, "eventId")));
        items
    }

    async fn outbox_types(&self) -> Vec<String> {
        self.outbox()
            .await
            .iter()
            .map(|i| s(i, "detailType").to_owned())
            .collect()
    }

    async fn post_ship(&self, order: OrderId) -> (u16, Value) {
        let req = warehouse_request("POST", &format!("/fulfillments/{order}/ship"), None);
        eventmart_tests::response_json(&self.app.handle(req).await)
    }
}

#[tokio::test]
async fn order_placed_prepares_the_shipment_with_its_outbox_item() {
    let env = env().await;
    let order = OrderId::new();
    let placed = event("OrderPlaced", order);
    let out = env.app.on_event(&placed).await.unwrap();
    assert_eq!(out["outcome"], "prepared");
    let item = env.shipment(order).await.unwrap();
    assert_eq!(s(&item, "status"), "PREPARING");
    assert_eq!(s(&item, "orderId"), order.to_string());
    assert_eq!(s(&item, "customerId"), "cust-42");
    assert_eq!(s(&item, "email"), "ada@example.com");
    assert_eq!(item["tombstone"], AttributeValue::Bool(false));
    let outbox = env.outbox().await;
    assert_eq!(outbox.len(), 1);
    let o = &outbox[0];
    assert_eq!(s(o, "source"), "eventmart.fulfillment");
    assert_eq!(s(o, "detailType"), "FulfillmentStarted");
    assert_eq!(
        s(o, "correlationId"),
        placed["detail"]["metadata"]["correlationId"]
    );
    assert_eq!(s(o, "pk"), format!("OUTBOX#{}", s(o, "eventId")));
    let detail: Value = serde_json::from_str(s(o, "detail")).unwrap();
    assert_eq!(detail["data"]["orderId"], order.to_string());
    assert_eq!(out["emitted"][0], s(o, "eventId"));
}

#[tokio::test]
async fn duplicates_even_64_concurrent_ones_prepare_one_shipment_and_one_event() {
    let env = env().await;
    let order = OrderId::new();
    let placed = event("OrderPlaced", order);
    let first = env.app.on_event(&placed).await.unwrap();
    assert_eq!(env.app.on_event(&placed).await.unwrap(), first);

    let concurrent_order = OrderId::new();
    let concurrent = event("OrderPlaced", concurrent_order);
    let results = futures::future::join_all((0..64).map(|_| {
        let app = env.app.clone();
        let ev = concurrent.clone();
        tokio::spawn(async move { app.on_event(&ev).await })
    }))
    .await;
    let outcomes: Vec<Value> = results
        .into_iter()
        .map(|r| r.unwrap().expect("a duplicate is answered, not failed"))
        .collect();
    assert!(outcomes.iter().all(|o| *o == outcomes[0]), "{outcomes:?}");
    assert_eq!(outcomes[0]["outcome"], "prepared");
    assert_eq!(
        env.shipment(concurrent_order).await.unwrap()["status"],
        AttributeValue::S("PREPARING".into())
    );
    assert_eq!(
        env.outbox_types().await,
        ["FulfillmentStarted", "FulfillmentStarted"]
    );
    let items = env.items().await;
    assert_eq!(items.len(), 4, "two shipments and two outbox items");
}

#[tokio::test]
async fn a_cancel_before_its_order_wins() {
    let env = env().await;
    let order = OrderId::new();
    let out = env
        .app
        .on_event(&event("OrderCanceled", order))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "tombstoned");
    let item = env.shipment(order).await.unwrap();
    assert_eq!(s(&item, "status"), "CANCELED");
    assert_eq!(item["tombstone"], AttributeValue::Bool(true));
    assert!(!item.contains_key("email"));
    let late = env
        .app
        .on_event(&event("OrderPlaced", order))
        .await
        .unwrap();
    assert_eq!(late["outcome"], "lateOrderAbsorbed");
    assert_eq!(env.shipment(order).await.unwrap(), item);
    assert_eq!(env.outbox_types().await, ["FulfillmentCanceled"]);
    assert_eq!(env.post_ship(order).await.0, 409);
}

#[tokio::test]
async fn cancel_reverses_a_preparing_shipment_and_ship_after_cancel_conflicts() {
    let env = env().await;
    let order = OrderId::new();
    env.app
        .on_event(&event("OrderPlaced", order))
        .await
        .unwrap();
    let out = env
        .app
        .on_event(&event("OrderCanceled", order))
        .await
        .unwrap();
    assert_eq!(out["outcome"], "canceled");
    let item = env.shipment(order).await.unwrap();
    assert_eq!(s(&item, "status"), "CANCELED");
    assert_eq!(item["tombstone"], AttributeValue::Bool(false));
    let again = env
        .app
        .on_event(&event("OrderCanceled", order))
        .await
        .unwrap();
    assert_eq!(again["outcome"], "alreadyCanceled");
    let (status, problem) = env.post_ship(order).await;
    assert_eq!(status, 409);
    assert_eq!(problem["type"], "urn:eventmart:problem:conflict");
    assert_eq!(
        env.outbox_types().await,
        ["FulfillmentStarted", "FulfillmentCanceled"]
    );
}

#[tokio::test]
async fn ship_twice_emits_one_order_shipped_and_a_later_cancel_is_rejected() {
    let env = env().await;
    let order = OrderId::new();
    env.app
        .on_event(&event("OrderPlaced", order))
        .await
        .unwrap();
    let (status, first) = env.post_ship(order).await;
    assert_eq!(status, 200);
    assert_eq!(first["status"], "SHIPPED");
    assert_eq!(first["orderId"], order.to_string());
    let (status, second) = env.post_ship(order).await;
    assert_eq!(status, 200);
    assert_eq!(second, first);
    let (status, got) = eventmart_tests::response_json(
        &env.app
            .handle(warehouse_request(
                "GET",
                &format!("/fulfillments/{order}"),
                None,
            ))
            .await,
    );
    assert_eq!((status, &got), (200, &first));

    let cancel = event("OrderCanceled", order);
    let out = env.app.on_event(&cancel).await.unwrap();
    assert_eq!(out["outcome"], "cancelRejected");
    assert_eq!(s(&env.shipment(order).await.unwrap(), "status"), "SHIPPED");
    let outbox = env.outbox().await;
    let types: Vec<&str> = outbox.iter().map(|i| s(i, "detailType")).collect();
    assert_eq!(
        types,
        [
            "FulfillmentStarted",
            "OrderShipped",
            "FulfillmentCancelRejected"
        ]
    );
    let shipped: Value = serde_json::from_str(s(&outbox[1], "detail")).unwrap();
    assert_eq!(shipped["data"]["customerId"], "cust-42");
    assert_eq!(shipped["data"]["email"], "ada@example.com");
    let rejected: Value = serde_json::from_str(s(&outbox[2], "detail")).unwrap();
    assert_eq!(
        rejected["data"]["reason"],
        "the shipment has already left the warehouse"
    );
    assert_eq!(
        s(&outbox[2], "correlationId"),
        cancel["detail"]["metadata"]["correlationId"]
    );
}

#[tokio::test]
async fn unknown_shipments_are_404() {
    let env = env().await;
    let order = OrderId::new();
    assert_eq!(env.post_ship(order).await.0, 404);
    let req = warehouse_request("GET", &format!("/fulfillments/{order}"), None);
    assert_eq!(
        eventmart_tests::response_json(&env.app.handle(req).await).0,
        404
    );
    // A path id that is no order id is an unknown shipment too, never a 422.
    for (method, path) in [
        ("GET", "/fulfillments/nope"),
        ("POST", "/fulfillments/nope/ship"),
    ] {
        let req = warehouse_request(method, path, None);
        let (status, problem) = eventmart_tests::response_json(&env.app.handle(req).await);
        assert_eq!(status, 404, "{method} {path}");
        assert_eq!(problem["type"], "urn:eventmart:problem:not-found");
    }
    assert!(env.items().await.is_empty());
}

#[tokio::test]
async fn a_malformed_event_goes_to_the_dead_letter_queue_with_its_reason() {
    let env = env().await;
    let mut bad = event("OrderPlaced", OrderId::new());
    bad["detail"]["data"]["email"] = json!("not-an-email");
    let out = env.app.on_event(&bad).await.unwrap();
    assert!(out["deadLettered"].is_string());
    let dead = drain_queue(&env.sqs, &env.dlq).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["function"], "fulfillment");
    assert_eq!(dead[0]["retryable"], false);
    assert!(
        dead[0]["reason"]
            .as_str()
            .unwrap()
            .contains("detail.data.email"),
        "{}",
        dead[0]
    );
    assert_eq!(dead[0]["event"], bad);
    assert!(env.items().await.is_empty());
}

#[tokio::test]
async fn the_sample_events_run_through_the_lambda_entry_point() {
    let env = env().await;
    // Through the function's own dispatch, as the Lambda runtime calls it.
    let invoke = |payload: Value| {
        let app = env.app.clone();
        async move {
            app.invoke(LambdaEvent::new(payload, Context::default()))
                .await
                .unwrap()
        }
    };
    let out = invoke(fixture("events/eventbridge/OrderPlaced.json")).await;
    assert_eq!(out["outcome"], "prepared");
    // As API Gateway sends them: a warehouse user's id token claims, every value a string.
    for name in ["ship.json", "get-shipment.json"] {
        let text = std::fs::read_to_string(
            eventmart_tests::repo_root().join(format!("events/fulfillment/{name}")),
        )
        .unwrap();
        let caller =
            eventmart_shared::auth::caller(&lambda_http::request::from_str(&text).unwrap())
                .unwrap();
        assert_eq!(
            caller.require(eventmart_shared::auth::Role::Warehouse),
            Ok(()),
            "{name}"
        );
    }
    // Without the warehouse group, the same sample is refused, and ships nothing.
    let mut as_customer = fixture("events/fulfillment/ship.json");
    let claims = &mut as_customer["requestContext"]["authorizer"]["jwt"]["claims"];
    claims.as_object_mut().unwrap().remove("cognito:groups");
    assert_eq!(invoke(as_customer).await["statusCode"], 403);
    let ship = invoke(fixture("events/fulfillment/ship.json")).await;
    assert_eq!(ship["statusCode"], 200);
    let body: Value = serde_json::from_str(ship["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "SHIPPED");
    // The fixture carries an Idempotency-Key: its retry replays the same answer.
    let again = invoke(fixture("events/fulfillment/ship.json")).await;
    assert_eq!(again["body"], ship["body"]);
    let got = invoke(fixture("events/fulfillment/get-shipment.json")).await;
    assert_eq!(got["statusCode"], 200);
    assert_eq!(got["body"], ship["body"]);
    let out = invoke(fixture("events/eventbridge/OrderCanceled.json")).await;
    assert_eq!(out["outcome"], "cancelRejected");
    assert_eq!(
        env.outbox_types().await.len(),
        3,
        "FulfillmentStarted, OrderShipped, FulfillmentCancelRejected"
    );
}

#[tokio::test]
async fn a_missing_table_is_permanent_and_dead_letters_the_event() {
    let env = env().await;
    let (client, _) = dynamodb().await;
    let tables = create_tables(&client).await;
    let app = app::build(
        &sdk_config().await,
        &Settings {
            fulfillment_table: format!("{}-missing", tables["FulfillmentTable"]),
            idempotency_table: tables["IdempotencyTable"].clone(),
            dead_letter_queue_url: env.dlq.clone(),
        },
    );
    let placed = event("OrderPlaced", OrderId::new());
    let out = app.on_event(&placed).await.unwrap();
    assert!(out["deadLettered"].is_string(), "{out}");
    let dead = drain_queue(&env.sqs, &env.dlq).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["retryable"], false);
    assert!(
        dead[0]["reason"]
            .as_str()
            .unwrap()
            .contains("ResourceNotFoundException"),
        "{}",
        dead[0]
    );
    assert_eq!(dead[0]["event"], placed);
}

#[tokio::test]
async fn only_the_warehouse_ships_and_a_refusal_writes_nothing() {
    let env = env().await;
    let order = OrderId::new();
    env.app
        .on_event(&event("OrderPlaced", order))
        .await
        .unwrap();
    let items = env.items().await;
    let path = format!("/fulfillments/{order}/ship");
    let customer = customer_claims("cust-42", "ada@example.com");
    let analyst = staff_claims("analyst-1", "analyst@example.com", &["analysts"]);
    for (who, claims) in [
        ("nobody", None),
        ("the order's customer", Some(&customer)),
        ("an analyst", Some(&analyst)),
    ] {
        for (method, path) in [
            ("POST", path.as_str()),
            ("GET", &format!("/fulfillments/{order}")),
        ] {
            let req = eventmart_tests::http_request_with(
                method,
                path,
                None,
                &[("idempotency-key", "k-1")],
            );
            let req = match claims {
                Some(c) => signed_in(req, c),
                None => req,
            };
            let (status, problem) = eventmart_tests::response_json(&env.app.handle(req).await);
            let expected = if claims.is_some() { 403 } else { 401 };
            assert_eq!(status, expected, "{who}: {method} {path}: {problem}");
        }
    }
    assert_eq!(env.items().await, items, "a refusal wrote");
    assert_eq!(
        s(&env.shipment(order).await.unwrap(), "status"),
        "PREPARING"
    );
    assert_eq!(env.post_ship(order).await.0, 200);
    assert_eq!(
        env.outbox_types().await,
        ["FulfillmentStarted", "OrderShipped"]
    );
}
