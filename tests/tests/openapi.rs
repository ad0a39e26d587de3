//! openapi.yaml stays true to the routing and to the handlers: its paths and methods are
//! exactly the HttpApi routes of template.yaml, every documented operation is served by
//! the function the template routes it to, and what the handlers answer (successes and
//! problems) validates against the documented responses. Its security too: an operation
//! is public exactly when its route opts out of the template's JWT authorizer, a secured
//! one is refused 401 by its handler without the authorizer's claims, and the Cognito
//! group it names (`x-eventmart-group`) is the one its handler requires.

use aws_sdk_dynamodb::types::AttributeValue;
use eventmart_local::template::RouteAuth;
use eventmart_shared::auth::Role;
use eventmart_shared::events::{EventId, MembershipId, OrderId};
use eventmart_tests::{
    create_queue, create_tables, customer_claims, dynamodb, fixture, http_request_with,
    response_json, signed_in, sqs, stack, staff_claims, template_yaml,
};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The functions behind the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Orders,
    Memberships,
    Fulfillment,
    Analytics,
}

impl Service {
    /// The function this test sends a path to, by the path's first segment.
    fn of(path: &str) -> Option<Service> {
        match path.split('/').nth(1)? {
            "orders" => Some(Service::Orders),
            "memberships" => Some(Service::Memberships),
            "fulfillments" => Some(Service::Fulfillment),
            "analytics" | "dashboard" => Some(Service::Analytics),
            _ => None,
        }
    }

    /// Its logical id in template.yaml.
    fn function(self) -> &'static str {
        match self {
            Service::Orders => "OrdersFunction",
            Service::Memberships => "MembershipsFunction",
            Service::Fulfillment => "FulfillmentFunction",
            Service::Analytics => "AnalyticsFunction",
        }
    }
}

struct Apis {
    orders: orders::Deployed,
    memberships: memberships::Deployed,
    fulfillment: fulfillment::Deployed,
    analytics: analytics::Deployed,
    dynamodb: aws_sdk_dynamodb::Client,
    daily_table: String,
    /// Every table, logical id → name.
    tables: HashMap<String, String>,
}

impl Apis {
    async fn new(valid_tables: bool) -> Self {
        let (client, _) = dynamodb().await;
        let mut tables = create_tables(&client).await;
        if !valid_tables {
            // Tables that do not exist: every store call fails as an outage would.
            for name in tables.values_mut() {
                name.push_str("-missing");
            }
        }
        let sqs = sqs().await;
        let dlq = create_queue(&sqs, "openapi-dlq").await;
        Self {
            orders: orders::app::build(
                &eventmart_tests::sdk_config().await,
                &orders::Settings {
                    orders_table: tables["OrdersTable"].clone(),
                    member_view_table: tables["MemberViewTable"].clone(),
                    idempotency_table: tables["IdempotencyTable"].clone(),
                    dead_letter_queue_url: dlq.clone(),
                },
            ),
            memberships: memberships::app::build(
                &eventmart_tests::sdk_config().await,
                &memberships::Settings {
                    memberships_table: tables["MembershipsTable"].clone(),
                    idempotency_table: tables["IdempotencyTable"].clone(),
                },
            ),
            fulfillment: fulfillment::app::build(
                &eventmart_tests::sdk_config().await,
                &fulfillment::Settings {
                    fulfillment_table: tables["FulfillmentTable"].clone(),
                    idempotency_table: tables["IdempotencyTable"].clone(),
                    dead_letter_queue_url: dlq.clone(),
                },
            ),
            analytics: analytics::app::build(
                &eventmart_tests::sdk_config().await,
                &analytics::Settings {
                    daily_table: tables["AnalyticsDailyTable"].clone(),
                    sign_in: analytics::SignIn::new(
                        "https://cognito-idp.us-east-1.amazonaws.com/",
                        "us-east-1_example",
                        "exampleclient",
                    )
                    .expect("valid sign-in settings"),
                },
            ),
            dynamodb: client,
            daily_table: tables["AnalyticsDailyTable"].clone(),
            tables,
        }
    }

    /// The number of items of every table: what a refusal must leave alone.
    async fn written(&self) -> BTreeMap<String, i32> {
        let mut counts = BTreeMap::new();
        for (id, name) in &self.tables {
            let out = self
                .dynamodb
                .scan()
                .table_name(name)
                .consistent_read(true)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .send()
                .await
                .expect("scan");
            counts.insert(id.clone(), out.count());
        }
        counts
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        let path = req.uri().path().to_owned();
        match Service::of(&path) {
            Some(Service::Orders) => self.orders.handle(req).await,
            Some(Service::Memberships) => self.memberships.handle(req).await,
            Some(Service::Fulfillment) => self.fulfillment.handle(req).await,
            Some(Service::Analytics) => self.analytics.handle(req).await,
            None => panic!("no function serves {path}"),
        }
    }

    /// Delivers a sample event of the orders service about `order` to fulfillment:
    /// OrderPlaced prepares a shipment, OrderCanceled first leaves a canceled tombstone.
    async fn deliver(&self, detail_type: &str, order: OrderId) {
        let mut event = fixture(&format!("events/eventbridge/{detail_type}.json"));
        event["detail"]["metadata"]["eventId"] = json!(EventId::new().to_string());
        event["detail"]["data"]["orderId"] = json!(order.to_string());
        let handled = self.fulfillment.on_event(&event).await;
        assert!(handled.is_ok(), "{detail_type}: {handled:?}");
    }

    /// Writes one day of the analytics aggregates as ingestion does.
    async fn put_day(&self, day: &str, attributes: &[(&str, AttributeValue)]) {
        let mut req = self
            .dynamodb
            .put_item()
            .table_name(&self.daily_table)
            .item("series", AttributeValue::S("daily".into()))
            .item("day", AttributeValue::S(day.into()));
        for (name, v) in attributes {
            req = req.item(*name, v.clone());
        }
        req.send().await.expect("put day");
    }
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn doc() -> Value {
    fixture("openapi.yaml")
}

/// The customer the tests sign in as (a Cognito sub).
const CUSTOMER: &str = "7d4e2a1c-5b3f-4e8a-9c6d-1f2e3a4b5c6d";

type Claims = Vec<(String, String)>;

fn customer() -> Claims {
    customer_claims(CUSTOMER, "ada@example.com")
}

/// A member of the Cognito groups `groups`, and of no other.
fn staff(groups: &[&str]) -> Claims {
    staff_claims(
        "0b5e7a8c-2f4d-4e21-9c3a-6d8f1e2a7b90",
        "staff@example.com",
        groups,
    )
}

/// The security requirement of an operation, its own or the document's: public when
/// empty.
fn security<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    doc["paths"][path][method]
        .get("security")
        .unwrap_or(&doc["security"])
}

fn is_public(doc: &Value, path: &str, method: &str) -> bool {
    security(doc, path, method) == &json!([])
}

/// The Cognito group an operation needs beyond a valid token (`x-eventmart-group`).
fn group<'a>(doc: &'a Value, path: &str, method: &str) -> Option<&'a str> {
    doc["paths"][path][method]["x-eventmart-group"].as_str()
}

/// Who calls an operation in the tests of what it serves: no one signed in for a public
/// one, a member of its group, else a customer.
fn caller_for(doc: &Value, path: &str, method: &str) -> Option<Claims> {
    if is_public(doc, path, method) {
        return None;
    }
    Some(match group(doc, path, method) {
        Some(g) => staff(&[g]),
        None => customer(),
    })
}

/// `req` as the function receives it from the caller of `claims` (none: no authorizer).
fn as_caller(req: Request, claims: Option<&Claims>) -> Request {
    match claims {
        Some(c) => signed_in(req, c),
        None => req,
    }
}

/// Every documented (path, method), method in lower case, in document order.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = vec![];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            if HTTP_METHODS.contains(&method.as_str()) {
                out.push((path.clone(), method.clone()));
            }
        }
    }
    out
}

/// Every HttpApi event of template.yaml: (METHOD, path, function's logical id).
fn template_routes() -> Vec<(String, String, String)> {
    stack()
        .routes
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.function.clone()))
        .collect()
}

/// Follows a local `$ref` (`#/components/...`) once.
fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("unresolved $ref {r}")),
        None => v,
    }
}

/// Every `$ref` in the document.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                out.push(r.to_owned());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

/// The parameters of an operation, the path item's included, dereferenced.
fn parameters<'a>(doc: &'a Value, path: &str, method: &str) -> Vec<&'a Value> {
    let item = &doc["paths"][path];
    [&item["parameters"], &item[method]["parameters"]]
        .into_iter()
        .filter_map(Value::as_array)
        .flatten()
        .map(|p| deref(doc, p))
        .collect()
}

/// Checks a response against the documented response of (path, method, status): the
/// status is documented, its media type is, the body validates against the schema
/// (with the document's components embedded so that `$ref`s resolve), and every
/// documented header is present.
fn check(doc: &Value, path: &str, method: &str, resp: &Response<Body>) {
    let status = resp.status().as_u16().to_string();
    let op = &doc["paths"][path][method];
    let documented = op["responses"]
        .get(&status)
        .unwrap_or_else(|| panic!("{method} {path}: status {status} is not documented"));
    let documented = deref(doc, documented);
    let content_type = resp
        .headers()
        .get("content-type")
        .unwrap_or_else(|| panic!("{method} {path} {status}: no content-type"))
        .to_str()
        .unwrap();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let schema = documented["content"]
        .get(media)
        .unwrap_or_else(|| panic!("{method} {path} {status}: {media} is not documented"))["schema"]
        .clone();
    let mut root = json!({"$schema": "https://json-schema.org/draft/2020-12/schema"});
    root["allOf"] = json!([schema]);
    root["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&root).expect("a valid schema");
    let bytes: &[u8] = resp.body().as_ref();
    let body: Value = if media.ends_with("json") {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|e| panic!("{method} {path} {status}: {media} body: {e}"))
    } else {
        Value::String(String::from_utf8(bytes.to_vec()).expect("a text body"))
    };
    let errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {errors:?}\n{body}"
    );
    if let Some(headers) = documented.get("headers").and_then(Value::as_object) {
        for name in headers.keys() {
            assert!(
                resp.headers()
                    .contains_key(name.to_ascii_lowercase().as_str()),
                "{method} {path} {status}: header {name} is documented but absent"
            );
        }
    }
}

fn example(doc: &Value, path: &str, method: &str) -> Option<Value> {
    doc["paths"][path][method]["requestBody"]["content"]["application/json"]
        .get("example")
        .cloned()
}

/// The documented path with its `{parameters}` replaced by the ids of `ids` (keyed by
/// the path's first segment and the parameter's name) and its required query
/// parameters set to their documented examples.
fn concrete(
    doc: &Value,
    path: &str,
    method: &str,
    ids: &HashMap<(String, String), String>,
) -> String {
    let service = path.split('/').nth(1).unwrap_or_default().to_owned();
    let mut out = path.to_owned();
    let mut query = vec![];
    for p in parameters(doc, path, method) {
        let name = p["name"].as_str().expect("a parameter name");
        match p["in"].as_str() {
            Some("path") => {
                let id = ids
                    .get(&(service.clone(), name.to_owned()))
                    .unwrap_or_else(|| panic!("{method} {path}: no {name} known yet"));
                out = out.replace(&format!("{{{name}}}"), id);
            }
            Some("query") if p["required"] == json!(true) => {
                let example = p["example"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path}: {name} has no example"));
                query.push(format!("{name}={example}"));
            }
            _ => {}
        }
    }
    assert!(!out.contains('{'), "{method} {path}: {out}");
    if !query.is_empty() {
        out = format!("{out}?{}", query.join("&"));
    }
    out
}

#[test]
fn documented_operations_are_exactly_the_template_routes() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));

    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(path, method)| (method.to_ascii_uppercase(), path))
        .collect();
    let routes = template_routes();
    let routed: BTreeSet<(String, String)> = routes
        .iter()
        .map(|(method, path, _)| (method.clone(), path.clone()))
        .collect();
    assert_eq!(routed.len(), routes.len(), "a route is declared twice");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routed but not documented: {undocumented:?}; documented but not routed: {unrouted:?}"
    );
    assert_eq!(
        documented.len(),
        11,
        "orders 3, memberships 3, fulfillment 2, analytics 3"
    );

    // The test sends each path to the function the template routes it to.
    for (method, path, function) in &routes {
        assert_eq!(
            Service::of(path).map(Service::function),
            Some(function.as_str()),
            "{method} {path}"
        );
    }

    // Every operation is tagged with a declared tag and named once; every $ref resolves.
    let tags: BTreeSet<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    let mut operation_ids = BTreeSet::new();
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let op_tags = op["tags"].as_array().expect("tags");
        assert!(
            !op_tags.is_empty()
                && op_tags
                    .iter()
                    .all(|t| tags.contains(t.as_str().unwrap_or_default())),
            "{method} {path}: tags {op_tags:?}"
        );
        let id = op["operationId"].as_str().expect("operationId");
        assert!(
            operation_ids.insert(id.to_owned()),
            "operationId {id} twice"
        );
    }
    let mut all = vec![];
    refs(&doc, &mut all);
    for r in all {
        assert!(
            doc.pointer(r.trim_start_matches('#')).is_some(),
            "unresolved $ref {r}"
        );
    }
}

#[tokio::test]
async fn every_documented_operation_is_served_as_documented() {
    let doc = doc();
    let apis = Apis::new(true).await;
    // The shipment the fulfillment paths name, PREPARING once its order is placed.
    let shipment = OrderId::new();
    apis.deliver("OrderPlaced", shipment).await;
    // A day inside the documented example range of `from` and `to`.
    apis.put_day(
        "2026-11-20",
        &[
            ("ordersPlaced", n(4)),
            ("ordersCanceled", n(1)),
            ("shipments", n(2)),
            ("signUps", n(2)),
            ("membershipCancellations", n(1)),
            ("grossRevenue_EUR", n(11499)),
            ("grossRevenue_USD", n(500)),
            ("canceledRevenue_EUR", n(2000)),
        ],
    )
    .await;

    let mut ids: HashMap<(String, String), String> = HashMap::from([(
        ("fulfillments".to_owned(), "orderId".to_owned()),
        shipment.to_string(),
    )]);
    let mut ops = operations(&doc);
    // Creates (no path parameter) first, so that the ids in the others name resources
    // that exist; reads before the changes.
    ops.sort_by_key(|(path, _)| (path.contains('{'), path.len()));
    let mut bodies: HashMap<(String, String), Value> = HashMap::new();
    for (path, method) in &ops {
        let uri = concrete(&doc, path, method, &ids);
        let body = example(&doc, path, method);
        let req = http_request_with(
            &method.to_uppercase(),
            &uri,
            body.as_ref(),
            &[("x-correlation-id", "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f")],
        );
        // The group it documents is enough: a member of it and of no other is served.
        let resp = apis
            .handle(as_caller(req, caller_for(&doc, path, method).as_ref()))
            .await;
        let status = resp.status().as_u16();
        assert!(
            (200..300).contains(&status),
            "{method} {uri}: {status} {:?}",
            resp.body()
        );
        check(&doc, path, method, &resp);
        let media_is_json = resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("json");
        if media_is_json {
            let (_, created) = response_json(&resp);
            let service = path.split('/').nth(1).unwrap_or_default();
            for name in ["orderId", "membershipId"] {
                if let (201, Some(id)) = (status, created[name].as_str()) {
                    ids.insert((service.to_owned(), name.to_owned()), id.to_owned());
                }
            }
            bodies.insert((path.clone(), method.clone()), created);
        }
    }
    assert_eq!(ids.len(), 3, "{ids:?}");
    // What was created is the signed-in customer's, to their verified email.
    for created in [
        &bodies[&("/orders".to_owned(), "post".to_owned())],
        &bodies[&("/memberships".to_owned(), "post".to_owned())],
    ] {
        assert_eq!(created["customerId"], CUSTOMER);
        assert_eq!(created["email"], "ada@example.com");
    }

    // The bodies checked above carry what the stores hold, not just the right shapes.
    let get_shipment = &bodies[&("/fulfillments/{orderId}".to_owned(), "get".to_owned())];
    assert_eq!(get_shipment["status"], "PREPARING");
    let shipped = &bodies[&("/fulfillments/{orderId}/ship".to_owned(), "post".to_owned())];
    assert_eq!(shipped["status"], "SHIPPED");
    assert_eq!(shipped["orderId"], json!(shipment.to_string()));
    let summary = &bodies[&("/analytics/summary".to_owned(), "get".to_owned())];
    assert_eq!(summary["ordersPlaced"], 4);
    assert_eq!(summary["netRevenue"], json!({"EUR": 9499, "USD": 500}));
    assert_eq!(summary["cancellationRate"], 0.25);
    let daily = &bodies[&("/analytics/daily".to_owned(), "get".to_owned())];
    assert_eq!(daily["days"].as_array().unwrap().len(), 30);
    assert_eq!(daily["days"][19]["grossRevenue"]["USD"], 500);
}

#[tokio::test]
async fn error_responses_match_their_documented_schemas() {
    let doc = doc();
    let apis = Apis::new(true).await;
    let place = example(&doc, "/orders", "post").unwrap();
    let sign_up = example(&doc, "/memberships", "post").unwrap();
    let reason = json!({"reason": "r"});
    let as_customer = |req: Request| signed_in(req, &customer());
    let order_id = {
        let resp = apis
            .handle(as_customer(http_request_with(
                "POST",
                "/orders",
                Some(&place),
                &[],
            )))
            .await;
        let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        body["orderId"].as_str().unwrap().to_owned()
    };
    let cancel = format!("/orders/{order_id}/cancel");
    apis.handle(as_customer(http_request_with(
        "POST",
        &cancel,
        Some(&reason),
        &[],
    )))
    .await;
    apis.handle(as_customer(http_request_with(
        "POST",
        "/memberships",
        Some(&sign_up),
        &[],
    )))
    .await;
    // A shipment being prepared, and one whose cancel came before its order.
    let prepared = OrderId::new();
    apis.deliver("OrderPlaced", prepared).await;
    let canceled = OrderId::new();
    apis.deliver("OrderCanceled", canceled).await;
    // A day the analytics cannot read.
    apis.put_day(
        "2026-10-15",
        &[("ordersPlaced", AttributeValue::S("three".into()))],
    )
    .await;

    let big = json!({"currency": "c".repeat(65 * 1024)});
    let invalid = json!({"customerId": "", "items": [{"quantity": 0}]});
    let unknown = "/orders/0193b3a4-1111-7aaa-8bbb-00000000ffff";
    let no_shipment = format!("/fulfillments/{}", OrderId::new());
    let shipment = format!("/fulfillments/{prepared}");
    let ship = format!("/fulfillments/{prepared}/ship");
    let ship_canceled = format!("/fulfillments/{canceled}/ship");
    let ship_key = [("idempotency-key", "ship-1")];
    // (request, documented path, documented method, expected status)
    let cases: Vec<(Request, &str, &str, u16)> = vec![
        // ---- orders
        (
            raw("POST", "/orders", "application/json", "[1,"),
            "/orders",
            "post",
            400,
        ),
        (
            raw("POST", "/orders", "text/plain", "hi"),
            "/orders",
            "post",
            415,
        ),
        (
            req("POST", "/orders", Some(&big), &[]),
            "/orders",
            "post",
            413,
        ),
        (
            req("POST", "/orders", Some(&invalid), &[]),
            "/orders",
            "post",
            422,
        ),
        (
            req("POST", "/orders", Some(&place), &[("idempotency-key", "k")]),
            "/orders",
            "post",
            201,
        ),
        (
            req(
                "POST",
                "/orders",
                Some(&invalid),
                &[("idempotency-key", "")],
            ),
            "/orders",
            "post",
            400,
        ),
        (req("DELETE", "/orders", None, &[]), "/orders", "post", 405),
        (
            req("GET", unknown, None, &[]),
            "/orders/{orderId}",
            "get",
            404,
        ),
        (
            req("GET", "/orders/nope", None, &[]),
            "/orders/{orderId}",
            "get",
            404,
        ),
        (
            req("POST", &cancel, Some(&reason), &[]),
            "/orders/{orderId}/cancel",
            "post",
            409,
        ),
        (
            req("POST", &format!("{unknown}/cancel"), Some(&reason), &[]),
            "/orders/{orderId}/cancel",
            "post",
            404,
        ),
        // ---- memberships
        (
            req("POST", "/memberships", Some(&sign_up), &[]),
            "/memberships",
            "post",
            409,
        ),
        (
            req("POST", "/memberships", Some(&invalid), &[]),
            "/memberships",
            "post",
            422,
        ),
        (
            req("PUT", "/memberships/x", None, &[]),
            "/memberships/{membershipId}",
            "get",
            405,
        ),
        // ---- fulfillment
        (
            req("GET", &no_shipment, None, &[]),
            "/fulfillments/{orderId}",
            "get",
            404,
        ),
        (
            req("GET", "/fulfillments/nope", None, &[]),
            "/fulfillments/{orderId}",
            "get",
            404,
        ),
        (
            req("DELETE", &shipment, None, &[]),
            "/fulfillments/{orderId}",
            "get",
            405,
        ),
        (
            req("GET", &ship, None, &[]),
            "/fulfillments/{orderId}/ship",
            "post",
            405,
        ),
        (
            req("POST", &format!("{no_shipment}/ship"), None, &[]),
            "/fulfillments/{orderId}/ship",
            "post",
            404,
        ),
        (
            req(
                "POST",
                &format!("{no_shipment}/ship"),
                None,
                &[("idempotency-key", "ship-0")],
            ),
            "/fulfillments/{orderId}/ship",
            "post",
            404,
        ),
        (
            req("POST", "/fulfillments/nope/ship", None, &[]),
            "/fulfillments/{orderId}/ship",
            "post",
            404,
        ),
        (
            req("POST", &ship, None, &[("idempotency-key", "")]),
            "/fulfillments/{orderId}/ship",
            "post",
            400,
        ),
        (
            req("POST", &ship_canceled, None, &[]),
            "/fulfillments/{orderId}/ship",
            "post",
            409,
        ),
        (
            req(
                "POST",
                &ship_canceled,
                None,
                &[("idempotency-key", "ship-2")],
            ),
            "/fulfillments/{orderId}/ship",
            "post",
            409,
        ),
        // Shipped, then the same key replayed, then shipped again without a key.
        (
            req("POST", &ship, None, &ship_key),
            "/fulfillments/{orderId}/ship",
            "post",
            200,
        ),
        (
            req("POST", &ship, None, &ship_key),
            "/fulfillments/{orderId}/ship",
            "post",
            200,
        ),
        (
            req("POST", &ship, None, &[]),
            "/fulfillments/{orderId}/ship",
            "post",
            200,
        ),
        // ---- analytics
        (
            req("GET", "/analytics/daily", None, &[]),
            "/analytics/daily",
            "get",
            400,
        ),
        (
            req(
                "GET",
                "/analytics/daily?from=2026-11-01&from=2026-11-02&to=2026-11-03",
                None,
                &[],
            ),
            "/analytics/daily",
            "get",
            400,
        ),
        (
            req(
                "GET",
                "/analytics/daily?from=2020-01-01&to=2026-01-01",
                None,
                &[],
            ),
            "/analytics/daily",
            "get",
            400,
        ),
        (
            req(
                "GET",
                "/analytics/summary?from=2026-12-01&to=2026-11-01",
                None,
                &[],
            ),
            "/analytics/summary",
            "get",
            400,
        ),
        (
            req("GET", "/analytics/summary?from=2026-1-1", None, &[]),
            "/analytics/summary",
            "get",
            400,
        ),
        // Nothing recorded: zeros, and rates without a denominator are null.
        (
            req(
                "GET",
                "/analytics/summary?from=2026-01-01&to=2026-01-31",
                None,
                &[],
            ),
            "/analytics/summary",
            "get",
            200,
        ),
        (
            req(
                "GET",
                "/analytics/daily?from=2026-10-01&to=2026-10-31",
                None,
                &[],
            ),
            "/analytics/daily",
            "get",
            500,
        ),
        (
            req(
                "GET",
                "/analytics/summary?from=2026-10-01&to=2026-10-31",
                None,
                &[],
            ),
            "/analytics/summary",
            "get",
            500,
        ),
        (
            req("POST", "/analytics/summary", Some(&json!({})), &[]),
            "/analytics/summary",
            "get",
            405,
        ),
        (
            req("DELETE", "/analytics/daily", None, &[]),
            "/analytics/daily",
            "get",
            405,
        ),
        (
            req("POST", "/dashboard", None, &[]),
            "/dashboard",
            "get",
            405,
        ),
    ];
    for (request, path, method, expected) in cases {
        let uri = request.uri().to_string();
        let request = as_caller(request, caller_for(&doc, path, method).as_ref());
        let resp = apis.handle(request).await;
        assert_eq!(
            resp.status().as_u16(),
            expected,
            "{method} {path} ({uri}): {:?}",
            resp.body()
        );
        check(&doc, path, method, &resp);
    }
    // The same key with another body.
    let mut other = place.clone();
    other["currency"] = json!("USD");
    let resp = apis
        .handle(as_customer(req(
            "POST",
            "/orders",
            Some(&other),
            &[("idempotency-key", "k")],
        )))
        .await;
    assert_eq!(resp.status(), 422);
    check(&doc, "/orders", "post", &resp);

    // Store outages.
    let down = Apis::new(false).await;
    let range = "?from=2026-11-01&to=2026-11-30";
    let cases: Vec<(Request, &str, &str)> = vec![
        (req("POST", "/orders", Some(&place), &[]), "/orders", "post"),
        (req("GET", unknown, None, &[]), "/orders/{orderId}", "get"),
        (
            req("POST", "/memberships", Some(&sign_up), &[]),
            "/memberships",
            "post",
        ),
        (
            req(
                "GET",
                "/memberships/0193b3a4-2222-7aaa-8bbb-000000000002",
                None,
                &[],
            ),
            "/memberships/{membershipId}",
            "get",
        ),
        (
            req("GET", &shipment, None, &[]),
            "/fulfillments/{orderId}",
            "get",
        ),
        (
            req("POST", &ship, None, &[]),
            "/fulfillments/{orderId}/ship",
            "post",
        ),
        (
            req("POST", &ship, None, &ship_key),
            "/fulfillments/{orderId}/ship",
            "post",
        ),
        (
            req("GET", &format!("/analytics/daily{range}"), None, &[]),
            "/analytics/daily",
            "get",
        ),
        (
            req("GET", &format!("/analytics/summary{range}"), None, &[]),
            "/analytics/summary",
            "get",
        ),
    ];
    for (request, path, method) in cases {
        let request = as_caller(request, caller_for(&doc, path, method).as_ref());
        let resp = down.handle(request).await;
        assert_eq!(resp.status(), 503, "{method} {path}: {:?}", resp.body());
        check(&doc, path, method, &resp);
    }
}

fn req(method: &str, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Request {
    http_request_with(method, path, body, headers)
}

fn raw(method: &str, path: &str, content_type: &str, body: &str) -> Request {
    let mut r = http_request_with(method, path, None, &[("content-type", content_type)]);
    *r.body_mut() = Body::Text(body.to_owned());
    r
}

#[test]
fn security_is_documented_on_every_operation_and_matches_the_template() {
    let doc = doc();
    assert_eq!(
        doc["components"]["securitySchemes"]["cognito"],
        json!({
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": doc["components"]["securitySchemes"]["cognito"]["description"],
        })
    );
    let scheme = doc["components"]["securitySchemes"]["cognito"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        scheme.contains("Cognito id token of the stack's user pool"),
        "{scheme}"
    );
    assert_eq!(doc["security"], json!([{"cognito": []}]));
    let yaml = template_yaml();
    let groups: BTreeSet<&str> = stack()
        .user_pool_groups
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    let mut public = vec![];
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let what = format!("{method} {path}");
        // Each operation states its requirement: a new one cannot inherit it unawares.
        let declared = op
            .get("security")
            .unwrap_or_else(|| panic!("{what}: no security of its own"));
        assert!(
            declared == &json!([]) || declared == &json!([{"cognito": []}]),
            "{what}: security {declared}"
        );
        let secured = !is_public(&doc, &path, &method);
        for status in ["401", "403"] {
            assert_eq!(
                op["responses"].get(status).is_some(),
                secured,
                "{what}: {status} is documented exactly when the operation is secured"
            );
        }
        if let Some(g) = group(&doc, &path, &method) {
            assert!(secured, "{what}: a group on a public operation");
            assert!(Role::from_group(g).is_some(), "{what}: {g} is no role");
            assert!(
                groups.contains(g),
                "{what}: {g} is no group of the user pool"
            );
        }
        let expected_group = match path.split('/').nth(1) {
            Some("fulfillments") => Some("warehouse"),
            Some("analytics") => Some("analysts"),
            _ => None,
        };
        assert_eq!(group(&doc, &path, &method), expected_group, "{what}");

        // The template agrees: a public operation's route opts out of the authorizer
        // (`Auth: { Authorizer: NONE }`), and a secured one's does not and is behind a
        // JWT authorizer that asks for no scope (an id token carries none).
        let route = stack()
            .routes
            .iter()
            .find(|r| r.method == method.to_uppercase() && r.path == path)
            .unwrap_or_else(|| panic!("{what}: no route"));
        let auth = &yaml["Resources"][route.function.as_str()]["Properties"]["Events"]
            [route.event.as_str()]["Properties"]["Auth"];
        let opts_out = auth["Authorizer"].as_str() == Some("NONE");
        assert_eq!(
            opts_out, !secured,
            "{what}: public in openapi.yaml exactly when its route says Auth: {{ Authorizer: NONE }}"
        );
        if secured {
            assert!(
                matches!(&route.auth, RouteAuth::Jwt { scopes, .. } if scopes.is_empty()),
                "{what}: behind no JWT authorizer, or one asking for scopes: {:?}",
                route.auth
            );
        } else {
            assert_eq!(route.auth, RouteAuth::Public, "{what}");
            public.push(what);
        }
    }
    assert_eq!(public, ["get /dashboard"], "the page shell alone is public");
}

#[tokio::test]
async fn secured_operations_refuse_as_documented_and_write_nothing() {
    let doc = doc();
    let apis = Apis::new(true).await;
    // Any id will do: who the caller is is decided before any id is read.
    let ids: HashMap<(String, String), String> = HashMap::from([
        (
            ("orders".into(), "orderId".into()),
            OrderId::new().to_string(),
        ),
        (
            ("memberships".into(), "membershipId".into()),
            MembershipId::new().to_string(),
        ),
        (
            ("fulfillments".into(), "orderId".into()),
            OrderId::new().to_string(),
        ),
    ]);
    let mut unverified = customer();
    unverified.retain(|(k, _)| k != "email_verified");
    let before = apis.written().await;
    let mut checked = 0;
    for (path, method) in operations(&doc) {
        if is_public(&doc, &path, &method) {
            continue;
        }
        let uri = concrete(&doc, &path, &method, &ids);
        let body = example(&doc, &path, &method);
        let call = |claims: Option<&Claims>| {
            let req = http_request_with(
                &method.to_uppercase(),
                &uri,
                body.as_ref(),
                &[("idempotency-key", "k-refused")],
            );
            apis.handle(as_caller(req, claims))
        };
        let what = format!("{method} {uri}");
        let problem = |resp: &Response<Body>| -> Value { response_json(resp).1 };

        // No claims: the handler does not trust the gateway alone.
        let resp = call(None).await;
        assert_eq!(resp.status(), 401, "{what}: {:?}", resp.body());
        check(&doc, &path, &method, &resp);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer", "{what}");
        assert_eq!(
            problem(&resp)["type"],
            "urn:eventmart:problem:unauthenticated",
            "{what}"
        );

        // Without the documented group, whatever else the caller is: 403.
        if let Some(needed) = group(&doc, &path, &method) {
            let others: Vec<&str> = Role::ALL
                .iter()
                .map(|r| r.group())
                .filter(|g| *g != needed)
                .collect();
            for claims in [customer(), staff(&others)] {
                let resp = call(Some(&claims)).await;
                assert_eq!(resp.status(), 403, "{what} as {claims:?}");
                check(&doc, &path, &method, &resp);
                let p = problem(&resp);
                assert_eq!(p["type"], "urn:eventmart:problem:forbidden", "{what}");
                assert_eq!(
                    p["detail"],
                    format!("this needs the {needed} role"),
                    "{what}"
                );
            }
        }
        // What a customer creates is confirmed to their verified email: none, 403.
        if method == "post" && (path == "/orders" || path == "/memberships") {
            let resp = call(Some(&unverified)).await;
            assert_eq!(resp.status(), 403, "{what}");
            check(&doc, &path, &method, &resp);
        }
        checked += 1;
    }
    assert_eq!(checked, 10, "every operation but the dashboard is secured");
    assert_eq!(apis.written().await, before, "a refusal wrote");
}
