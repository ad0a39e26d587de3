//! openapi.yaml stays true to the handlers: every documented path and method is served,
//! and what the handlers answer validates against the documented schemas.

use eventmart_tests::{create_queue, create_tables, dynamodb, http_request_with, sqs};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

struct Apis {
    orders: orders::App,
    memberships: memberships::App,
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
            orders: orders::App::with_resources(
                client.clone(),
                sqs,
                &tables["OrdersTable"],
                &tables["IdempotencyTable"],
                &dlq,
            ),
            memberships: memberships::App::with_tables(
                client,
                &tables["MembershipsTable"],
                &tables["IdempotencyTable"],
            ),
        }
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        if req.uri().path().starts_with("/memberships") {
            self.memberships.handle(req).await
        } else {
            self.orders.handle(req).await
        }
    }
}

fn doc() -> Value {
    let text = std::fs::read_to_string(eventmart_tests::repo_root().join("openapi.yaml")).unwrap();
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).expect("openapi.yaml is YAML");
    serde_json::to_value(yaml).unwrap()
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

/// Checks a response against the documented response of (path, method, status): the
/// status is documented, its content type is, and the body validates against the schema
/// (with the document's components embedded so that `$ref`s resolve).
fn check(doc: &Value, path: &str, method: &str, resp: &Response<Body>) {
    let status = resp.status().as_u16().to_string();
    let op = &doc["paths"][path][method];
    let documented = op["responses"]
        .get(&status)
        .unwrap_or_else(|| panic!("{method} {path}: status {status} is not documented"));
    let documented = deref(doc, documented);
    let content_type = resp.headers()["content-type"].to_str().unwrap();
    let schema =
        documented["content"].get(content_type).unwrap_or_else(|| {
            panic!("{method} {path} {status}: {content_type} is not documented")
        })["schema"]
            .clone();
    let mut root = json!({"$schema": "https://json-schema.org/draft/2020-12/schema"});
    root["allOf"] = json!([schema]);
    root["components"] = doc["components"].clone();
    let validator = jsonschema::validator_for(&root).expect("a valid schema");
    let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
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

#[tokio::test]
async fn every_documented_operation_is_served_as_documented() {
    let doc = doc();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let apis = Apis::new(true).await;
    let mut paths: Vec<&String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|p| p.starts_with("/orders") || p.starts_with("/memberships"))
        .collect();
    // Creates first, so that the paths with ids name resources that exist.
    paths.sort_by_key(|p| p.len());
    assert_eq!(paths.len(), 6);
    let mut ids: Vec<(&str, String)> = vec![];
    let mut served = 0;
    for path in paths {
        for (method, _) in doc["paths"][path.as_str()].as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            let mut concrete = path.clone();
            for (name, id) in &ids {
                concrete = concrete.replace(&format!("{{{name}}}"), id);
            }
            let body = example(&doc, path, method);
            let req = http_request_with(
                &method.to_uppercase(),
                &concrete,
                body.as_ref(),
                &[("x-correlation-id", "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f")],
            );
            let resp = apis.handle(req).await;
            let status = resp.status().as_u16();
            assert!(
                (200..300).contains(&status),
                "{method} {concrete}: {status} {:?}",
                resp.body()
            );
            check(&doc, path, method, &resp);
            let created: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
            for name in ["orderId", "membershipId"] {
                if let (201, Some(id)) = (status, created[name].as_str()) {
                    ids.push((name, id.to_owned()));
                }
            }
            served += 1;
        }
    }
    assert_eq!(served, 6);
    assert_eq!(ids.len(), 2);
}

#[tokio::test]
async fn error_responses_match_their_documented_schemas() {
    let doc = doc();
    let apis = Apis::new(true).await;
    let place = example(&doc, "/orders", "post").unwrap();
    let sign_up = example(&doc, "/memberships", "post").unwrap();
    let reason = json!({"reason": "r"});
    let order_id = {
        let resp = apis
            .handle(http_request_with("POST", "/orders", Some(&place), &[]))
            .await;
        let body: Value = serde_json::from_slice(resp.body().as_ref()).unwrap();
        body["orderId"].as_str().unwrap().to_owned()
    };
    let cancel = format!("/orders/{order_id}/cancel");
    apis.handle(http_request_with("POST", &cancel, Some(&reason), &[]))
        .await;
    apis.handle(http_request_with(
        "POST",
        "/memberships",
        Some(&sign_up),
        &[],
    ))
    .await;

    let big = json!({"customerId": "c".repeat(65 * 1024)});
    let invalid = json!({"customerId": "", "items": [{"quantity": 0}]});
    let unknown = "/orders/0193b3a4-1111-7aaa-8bbb-00000000ffff";
    // (request, documented path, documented method, expected status)
    let cases: Vec<(Request, &str, &str, u16)> = vec![
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
    ];
    for (request, path, method, expected) in cases {
        let resp = apis.handle(request).await;
        assert_eq!(
            resp.status().as_u16(),
            expected,
            "{method} {path}: {:?}",
            resp.body()
        );
        check(&doc, path, method, &resp);
    }
    // The same key with another body.
    let mut other = place.clone();
    other["currency"] = json!("USD");
    let resp = apis
        .handle(req(
            "POST",
            "/orders",
            Some(&other),
            &[("idempotency-key", "k")],
        ))
        .await;
    assert_eq!(resp.status(), 422);
    check(&doc, "/orders", "post", &resp);

    // Store outages.
    let down = Apis::new(false).await;
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
    ];
    for (request, path, method) in cases {
        let resp = down.handle(request).await;
        assert_eq!(resp.status(), 503, "{method} {path}");
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
