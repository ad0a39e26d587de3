//! Every function with every one of its sample events (`events/<function>/`, and the bus
//! samples `events/eventbridge/` its rules route to it), against the local AWS servers:
//! each response, and each effect in the tables, queues and bus.
//!
//! One story, two ways to run it: on the native Runtime API (always), and with
//! `--features sam-local` under `sam local invoke` on the artifacts `sam build` made, in
//! SAM's containers (`make sam-local`: needs `make build` and scripts/sam-local-setup.sh).

use aws_sdk_dynamodb::types::AttributeValue;
use eventmart_local::lambda::{InvokeError, Invoker};
use eventmart_local::log::LogMode;
use eventmart_local::stack::{LambdaBackend, LocalStack, StackOptions};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

mod support;
use support::{fixture, root};

/// The id the order samples name; the story's placed order takes its place.
const SAMPLE_ORDER: &str = "0193b3a4-1111-7aaa-8bbb-000000000001";
/// The id the membership samples name; the story's sign-up takes its place.
const SAMPLE_MEMBERSHIP: &str = "0193b3a4-2222-7aaa-8bbb-000000000002";

async fn start(lambda: LambdaBackend) -> LocalStack {
    let mut o = StackOptions::new(root());
    o.log = LogMode::Quiet;
    o.lambda = lambda;
    if lambda == LambdaBackend::Sam {
        o.build = false;
    }
    LocalStack::start(o)
        .await
        .unwrap_or_else(|e| panic!("stack did not start: {e}"))
}

/// A sample with one id put in place of another (in its path, parameters and body).
fn with_id(sample: &str, from: &str, to: &str) -> Value {
    let text = fixture(sample).to_string().replace(from, to);
    serde_json::from_str(&text).unwrap()
}

/// The HTTP response a function returned: status and JSON body (null if not JSON).
fn http(out: &Result<Value, InvokeError>, what: &str) -> (u64, Value) {
    let out = out.as_ref().unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = out["statusCode"].as_u64().unwrap_or(0);
    let body = out["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

/// The bus samples the template routes to `function`, by file name.
fn routed_samples(stack: &LocalStack, function: &str) -> BTreeMap<String, Value> {
    let dir = root().join("events/eventbridge");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let event: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let routed = stack
            .model
            .rules
            .iter()
            .any(|r| r.function() == Some(function) && r.enabled && r.compiled.matches(&event));
        if routed {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            out.insert(name, event);
        }
    }
    out
}

/// Every item of a table, each as its JSON text (an effect is found by the values in it).
async fn items(stack: &LocalStack, logical_id: &str) -> Vec<String> {
    let db = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let mut out = vec![];
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = db
            .scan()
            .table_name(stack.table_name(logical_id))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        for item in page.items() {
            let mut fields: Vec<String> = item.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            fields.sort();
            out.push(fields.join(" "));
        }
        match page.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return out,
        }
    }
}

/// The items of a table that mention every one of `needles`.
async fn items_with(stack: &LocalStack, logical_id: &str, needles: &[&str]) -> Vec<String> {
    items(stack, logical_id)
        .await
        .into_iter()
        .filter(|i| needles.iter().all(|n| i.contains(n)))
        .collect()
}

fn event_id(event: &Value) -> &str {
    event["detail"]["metadata"]["eventId"].as_str().unwrap()
}

/// Every sample of every function through `invoke`, each response and effect checked.
async fn story(stack: &LocalStack, invoke: &dyn Invoker) {
    let functions: BTreeSet<String> = stack
        .model
        .functions
        .iter()
        .map(|f| f.logical_id.clone())
        .collect();
    let mut covered = BTreeSet::new();
    let mut call = async |function: &str, payload: Value| {
        assert!(
            functions.contains(function),
            "{function} is not in the template"
        );
        covered.insert(function.to_owned());
        invoke.invoke(function, payload).await
    };

    // Orders: place, read and cancel an order; the bus samples routed to orders.
    let out = call("OrdersFunction", fixture("events/orders/place-order.json")).await;
    let (status, order) = http(&out, "place-order");
    assert_eq!(status, 201, "place-order: {order}");
    // Two shoes at 49.99 and three socks at 5.00; the sample's customer is no member.
    assert_eq!(order["subtotal"]["amountMinor"], 11498, "{order}");
    assert_eq!(order["total"]["amountMinor"], 11498, "{order}");
    let id = order["orderId"].as_str().unwrap().to_owned();
    assert!(!items_with(stack, "OrdersTable", &[&id]).await.is_empty());
    let out = call(
        "OrdersFunction",
        with_id("events/orders/get-order.json", SAMPLE_ORDER, &id),
    )
    .await;
    let (status, got) = http(&out, "get-order");
    assert_eq!(
        (status, got["orderId"].as_str()),
        (200, Some(id.as_str())),
        "{got}"
    );
    let out = call(
        "OrdersFunction",
        with_id("events/orders/cancel-order.json", SAMPLE_ORDER, &id),
    )
    .await;
    let (status, canceled) = http(&out, "cancel-order");
    assert_eq!(
        (status, &canceled["status"]),
        (200, &Value::from("CANCELED")),
        "{canceled}"
    );
    assert!(
        !items_with(stack, "OrdersTable", &[&id, "CANCELED"])
            .await
            .is_empty(),
        "the order is canceled in its table"
    );
    let routed = routed_samples(stack, "OrdersFunction");
    assert_eq!(
        routed.keys().collect::<Vec<_>>(),
        ["MembershipCanceled", "MembershipSignedUp", "OrderShipped"]
    );
    for (name, event) in routed {
        let event = serde_json::from_str(&event.to_string().replace(SAMPLE_ORDER, &id)).unwrap();
        let out = call("OrdersFunction", event).await;
        let out = out.unwrap_or_else(|e| panic!("{name} to orders: {e}"));
        if name == "OrderShipped" {
            // Shipped after its cancel: the order stays canceled.
            assert_eq!(out["status"], "CANCELED", "{out}");
        }
    }
    let view = items(stack, "MemberViewTable").await;
    let sample = fixture("events/eventbridge/MembershipSignedUp.json");
    let customer = sample["detail"]["data"]["customerId"].as_str().unwrap();
    assert!(
        view.iter()
            .any(|i| i.contains(customer) && i.contains("CANCELED")),
        "the member view holds the sample's canceled membership: {view:?}"
    );

    // Memberships: sign up, read, cancel.
    let out = call(
        "MembershipsFunction",
        fixture("events/memberships/sign-up.json"),
    )
    .await;
    let (status, membership) = http(&out, "sign-up");
    assert_eq!(
        (status, &membership["plan"]),
        (201, &Value::from("annual")),
        "{membership}"
    );
    let mid = membership["membershipId"].as_str().unwrap().to_owned();
    for (sample, expected) in [
        ("events/memberships/get-membership.json", "ACTIVE"),
        ("events/memberships/cancel-membership.json", "CANCELED"),
    ] {
        let out = call(
            "MembershipsFunction",
            with_id(sample, SAMPLE_MEMBERSHIP, &mid),
        )
        .await;
        let (status, body) = http(&out, sample);
        assert_eq!(
            (status, &body["status"]),
            (200, &Value::from(expected)),
            "{sample}: {body}"
        );
    }
    assert!(
        !items_with(stack, "MembershipsTable", &[&mid, "CANCELED"])
            .await
            .is_empty()
    );

    // Fulfillment: the bus samples start (and cancel) shipments; the warehouse reads and
    // ships the sample order's.
    let routed = routed_samples(stack, "FulfillmentFunction");
    assert_eq!(
        routed.keys().collect::<Vec<_>>(),
        ["OrderCanceled", "OrderPlaced"]
    );
    let placed = &routed["OrderPlaced"];
    call("FulfillmentFunction", placed.clone())
        .await
        .unwrap_or_else(|e| panic!("OrderPlaced to fulfillment: {e}"));
    assert!(
        !items_with(stack, "FulfillmentTable", &[SAMPLE_ORDER])
            .await
            .is_empty()
    );
    let out = call(
        "FulfillmentFunction",
        fixture("events/fulfillment/get-shipment.json"),
    )
    .await;
    let (status, shipment) = http(&out, "get-shipment");
    assert_eq!(status, 200, "{shipment}");
    assert_eq!(shipment["orderId"], SAMPLE_ORDER, "{shipment}");
    let out = call(
        "FulfillmentFunction",
        fixture("events/fulfillment/ship.json"),
    )
    .await;
    let (status, shipped) = http(&out, "ship");
    assert_eq!(
        (status, &shipped["status"]),
        (200, &Value::from("SHIPPED")),
        "{shipped}"
    );
    // Canceled after shipping: too late, the shipment stays shipped.
    call("FulfillmentFunction", routed["OrderCanceled"].clone())
        .await
        .unwrap_or_else(|e| panic!("OrderCanceled to fulfillment: {e}"));
    assert!(
        !items_with(stack, "FulfillmentTable", &[SAMPLE_ORDER, "SHIPPED"])
            .await
            .is_empty()
    );

    // Notifications: one email per routed sample, each recorded once by its event id; the
    // malformed sample goes to the dead-letter queue with its reason.
    let routed = routed_samples(stack, "NotificationsFunction");
    assert!(routed.len() >= 4, "{:?}", routed.keys());
    for (name, event) in &routed {
        call("NotificationsFunction", event.clone())
            .await
            .unwrap_or_else(|e| panic!("{name} to notifications: {e}"));
        assert_eq!(
            items_with(stack, "NotificationsTable", &[event_id(event)])
                .await
                .len(),
            1,
            "{name}: one notification record"
        );
    }
    let bad = fixture("events/notifications/OrderPlaced-invalid-quantity.json");
    let out = call("NotificationsFunction", bad.clone())
        .await
        .unwrap_or_else(|e| panic!("the malformed sample: {e}"));
    let reason = out["deadLettered"]
        .as_str()
        .unwrap_or_else(|| panic!("{out}"));
    assert!(reason.contains("detail.data.items[1].quantity"), "{reason}");
    let dead = eventmart_local::eventmart::dead_letters::dead_letters(stack)
        .await
        .unwrap();
    // Its own dead-letter message: the function, the event and the reason, as JSON.
    let bodies: Vec<Value> = dead
        .iter()
        .filter_map(|d| serde_json::from_str(&d.body).ok())
        .collect();
    assert!(
        bodies.iter().any(|b| b["function"] == "notifications"
            && b["event"] == bad
            && b["reason"] == reason),
        "dead letters: {bodies:?}"
    );

    // Ingestion: every routed sample recorded once by its event id.
    let routed = routed_samples(stack, "IngestionFunction");
    assert_eq!(
        routed.len(),
        8,
        "ingestion takes every event: {:?}",
        routed.keys()
    );
    for (name, event) in &routed {
        call("IngestionFunction", event.clone())
            .await
            .unwrap_or_else(|e| panic!("{name} to ingestion: {e}"));
        assert_eq!(
            items_with(stack, "AnalyticsEventsTable", &[event_id(event)])
                .await
                .len(),
            1,
            "{name}: one analytics record"
        );
    }

    // Analytics: the analyst's reads, and the dashboard's page.
    for sample in ["summary", "daily"] {
        let out = call(
            "AnalyticsFunction",
            fixture(&format!("events/analytics/{sample}.json")),
        )
        .await;
        let (status, body) = http(&out, sample);
        assert_eq!(status, 200, "{sample}: {body}");
        assert!(body.is_object(), "{sample}: {body}");
    }
    let out = call(
        "AnalyticsFunction",
        fixture("events/analytics/dashboard.json"),
    )
    .await
    .unwrap();
    assert_eq!(out["statusCode"], 200);
    assert!(
        out["body"].as_str().unwrap_or_default().contains("<html"),
        "{out}"
    );

    // The outbox relay: the sample batch's new outbox records reach the bus. Counted once
    // nothing else is in flight: the events of the samples above are still on their way
    // from the outbox to the bus until the stack settles.
    stack.settle().await;
    let before = stack.bus.counters().events_accepted;
    let out = call(
        "OutboxRelayFunction",
        fixture("events/outbox-relay/stream-batch.json"),
    )
    .await
    .unwrap_or_else(|e| panic!("stream-batch: {e}"));
    assert_eq!(out["batchItemFailures"], serde_json::json!([]), "{out}");
    assert_eq!(
        stack.bus.counters().events_accepted - before,
        2,
        "two INSERTs, two events"
    );

    assert_eq!(covered, functions, "every function ran a sample");
}

#[tokio::test]
async fn every_sample_on_the_native_runtime() {
    let stack = start(LambdaBackend::Native).await;
    story(&stack, stack.lambda.as_ref()).await;
    stack.shutdown().await;
}

#[cfg(feature = "sam-local")]
#[tokio::test]
async fn every_sample_under_sam_local_invoke() {
    use eventmart_local::lambda::sam::SamInvoke;
    let stack = start(LambdaBackend::Sam).await;
    let files = stack.sam_files().expect("SAM's files").clone();
    let sam = SamInvoke::new(&root(), files, &root().join("target/sam-local/invoke")).unwrap();
    story(&stack, &sam).await;
    stack.shutdown().await;
}
