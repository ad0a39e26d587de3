//! Who may do what, end to end: every operation of openapi.yaml through the local HTTP
//! API (its JWT authorizer from template.yaml) and the real function binaries, against
//! every kind of caller. Each cell asserts the status; where the answer is a refusal it
//! also asserts that nothing was written (no item in any table, no event on the bus).

use eventmart_local::chaos::Chaos;
use eventmart_local::client;
use eventmart_local::encoding::{base64url_decode, base64url_encode};
use eventmart_local::eventmart::demo::sign_in;
use eventmart_local::log::LogMode;
use eventmart_local::stack::{LocalStack, StackOptions};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

mod support;
use support::root;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Caller {
    NoToken,
    Malformed,
    OtherKey,
    AlgNone,
    Expired,
    OtherAudience,
    /// Ada, whose order and membership the paths name.
    Owner,
    /// Bob, another customer.
    OtherCustomer,
    Warehouse,
    Analyst,
}

use Caller::*;

const BAD_TOKENS: [Caller; 6] = [
    NoToken,
    Malformed,
    OtherKey,
    AlgNone,
    Expired,
    OtherAudience,
];
const SIGNED_IN: [Caller; 4] = [Owner, OtherCustomer, Warehouse, Analyst];

/// The status each caller gets from an operation, as openapi.yaml and the template say.
fn expected(op: &str, caller: Caller) -> u16 {
    if op == "GET /dashboard" {
        return 200; // the public page shell
    }
    if BAD_TOKENS.contains(&caller) {
        return 401; // API Gateway's authorizer, before any function
    }
    match (op, caller) {
        // Anyone signed in is a customer who may order and join, once: Ada is a member.
        ("POST /memberships", Owner) => 409,
        ("POST /orders", _) | ("POST /memberships", _) => 201,
        // Ada's order and membership: hers alone; to anyone else an unknown id.
        (
            "GET /orders/{orderId}"
            | "POST /orders/{orderId}/cancel"
            | "GET /memberships/{membershipId}"
            | "POST /memberships/{membershipId}/cancel",
            Owner,
        ) => 200,
        (
            "GET /orders/{orderId}"
            | "POST /orders/{orderId}/cancel"
            | "GET /memberships/{membershipId}"
            | "POST /memberships/{membershipId}/cancel",
            _,
        ) => 404,
        ("GET /fulfillments/{orderId}" | "POST /fulfillments/{orderId}/ship", Warehouse) => 200,
        ("GET /fulfillments/{orderId}" | "POST /fulfillments/{orderId}/ship", _) => 403,
        ("GET /analytics/summary" | "GET /analytics/daily", Analyst) => 200,
        ("GET /analytics/summary" | "GET /analytics/daily", _) => 403,
        (other, _) => panic!("operation {other} has no row in the matrix: add one"),
    }
}

/// The operations openapi.yaml declares, as `METHOD /path`.
fn operations() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("openapi.yaml")).expect("openapi.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("openapi.yaml is YAML");
    let mut ops = vec![];
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for (method, _) in item.as_mapping().expect("path item") {
            let m = method.as_str().unwrap_or_default();
            if ["get", "post", "put", "patch", "delete"].contains(&m) {
                ops.push(format!("{} {}", m.to_uppercase(), path.as_str().unwrap()));
            }
        }
    }
    ops
}

/// A token's payload.
fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&base64url_decode(part).expect("base64url")).expect("JSON")
}

/// `claims` signed with moto's Cognito key (or a fresh one), by the project's test signer.
fn signed(claims: &Value, other_key: bool) -> String {
    let mut cmd = Command::new(root().join(".venv/bin/python"));
    cmd.arg(root().join("scripts/sign-test-token.py"));
    if other_key {
        cmd.arg("--other-key");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the test signer runs (make setup)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(claims.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the signer failed");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The `Authorization` header of each caller (none for `NoToken`).
async fn tokens(stack: &LocalStack) -> BTreeMap<Caller, Option<String>> {
    let ada = sign_in(stack, "ada@example.com", &[]).await.expect("Ada");
    let bob = sign_in(stack, "bob@example.com", &[]).await.expect("Bob");
    let warehouse = sign_in(stack, "warehouse@example.com", &["warehouse"])
        .await
        .unwrap();
    let analyst = sign_in(stack, "analyst@example.com", &["analysts"])
        .await
        .unwrap();
    let claims = payload(&ada);
    let now = chrono::Utc::now().timestamp();
    let mut expired = claims.clone();
    expired["iat"] = json!(now - 7200);
    expired["auth_time"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    let mut other_audience = claims.clone();
    other_audience["aud"] = json!("some-other-client");
    let alg_none = format!(
        "{}.{}.",
        base64url_encode(br#"{"alg":"none","typ":"JWT"}"#),
        base64url_encode(claims.to_string().as_bytes())
    );
    let bearer = |t: String| Some(format!("Bearer {t}"));
    BTreeMap::from([
        (NoToken, None),
        (Malformed, bearer("not.a-token".into())),
        (OtherKey, bearer(signed(&claims, true))),
        (AlgNone, bearer(alg_none)),
        (Expired, bearer(signed(&expired, false))),
        (OtherAudience, bearer(signed(&other_audience, false))),
        (Owner, bearer(ada)),
        (OtherCustomer, bearer(bob)),
        (Warehouse, bearer(warehouse)),
        (Analyst, bearer(analyst)),
    ])
}

/// Items in every table and events the bus accepted: what a refusal must leave alone.
async fn written(stack: &LocalStack) -> (BTreeMap<String, i32>, u64) {
    let dynamodb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let mut items = BTreeMap::new();
    for t in &stack.model.tables {
        let n = dynamodb
            .scan()
            .table_name(&t.name)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .expect("scan")
            .count();
        items.insert(t.logical_id.clone(), n);
    }
    (items, stack.bus.counters().events_accepted)
}

struct Call<'a> {
    base: &'a str,
    method: &'static str,
    path: String,
    body: Option<Value>,
}

impl Call<'_> {
    async fn by(&self, authorization: Option<&str>) -> (u16, String) {
        let method = self.method;
        let key = uuid::Uuid::new_v4().to_string();
        let mut headers = vec![("idempotency-key", key.as_str())];
        if let Some(a) = authorization {
            headers.push(("authorization", a));
        }
        let body = self.body.as_ref().map(|b| b.to_string().into_bytes());
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let url = format!("{}{}", self.base, self.path);
        let r = client::request(method, &url, &headers, body.as_deref())
            .await
            .expect("request");
        (r.status, r.text())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_operation_answers_each_kind_of_caller_as_the_api_says() {
    let mut options = StackOptions::new(root());
    options.chaos = Chaos::off();
    options.log = LogMode::Quiet;
    let stack = LocalStack::start(options).await.expect("the stack starts");
    let base = stack.endpoints().http_api;
    let tokens = tokens(&stack).await;
    let auth = |c: Caller| tokens[&c].as_deref();

    // Ada's order (to read and cancel), a second one (to ship) and her membership.
    let place = |items: Value| Call {
        base: &base,
        method: "POST",
        path: "/orders".into(),
        body: Some(json!({"currency": "EUR", "items": items})),
    };
    let shoes = json!([{"sku": "SHOE-RUN-42", "quantity": 1, "unitPriceMinor": 8999}]);
    let (s, order) = place(shoes.clone()).by(auth(Owner)).await;
    assert_eq!(s, 201, "{order}");
    let order: Value = serde_json::from_str(&order).unwrap();
    assert_eq!(
        order["email"], "ada@example.com",
        "the email is the token's"
    );
    assert_eq!(
        order["customerId"],
        payload(&tokens[&Owner].clone().unwrap()[7..])["sub"]
    );
    let (s, to_ship) = place(shoes.clone()).by(auth(Owner)).await;
    assert_eq!(s, 201);
    let to_ship: Value = serde_json::from_str(&to_ship).unwrap();
    let membership = Call {
        base: &base,
        method: "POST",
        path: "/memberships".into(),
        body: Some(json!({"plan": "annual"})),
    };
    let (s, member) = membership.by(auth(Owner)).await;
    assert_eq!(s, 201, "{member}");
    let member: Value = serde_json::from_str(&member).unwrap();
    stack.settle().await;

    let today = chrono::Utc::now().date_naive();
    let call = |op: &str| {
        let order_id = order["orderId"].as_str().unwrap();
        let path = op
            .split(' ')
            .nth(1)
            .unwrap()
            .replace("{membershipId}", member["membershipId"].as_str().unwrap());
        let path = if op.starts_with("POST /fulfillments") || op.starts_with("GET /fulfillments") {
            path.replace("{orderId}", to_ship["orderId"].as_str().unwrap())
        } else {
            path.replace("{orderId}", order_id)
        };
        let path = if op.starts_with("GET /analytics") {
            format!("{path}?from={today}&to={today}")
        } else {
            path
        };
        let body = match op {
            "POST /orders" => Some(json!({"currency": "EUR", "items": shoes})),
            "POST /memberships" => Some(json!({"plan": "monthly"})),
            "POST /orders/{orderId}/cancel" | "POST /memberships/{membershipId}/cancel" => {
                Some(json!({"reason": "Changed my mind"}))
            }
            _ => None,
        };
        Call {
            base: &base,
            method: if op.starts_with("POST") {
                "POST"
            } else {
                "GET"
            },
            path,
            body,
        }
    };

    let mut ops = operations();
    assert_eq!(ops.len(), 11, "every operation has its row: {ops:?}");
    // Cancels last: the other cells see Ada's order and membership as they were placed.
    ops.sort_by_key(|op| op.ends_with("/cancel"));
    let mut wrong = vec![];
    for op in &ops {
        let c = call(op);
        // Refusals first, each checked to write nothing; then the callers it serves.
        let (refused, served): (Vec<Caller>, Vec<Caller>) = BAD_TOKENS
            .iter()
            .chain(&SIGNED_IN)
            .partition(|&&k| expected(op, k) >= 400);
        stack.settle().await;
        let before = written(&stack).await;
        for k in &refused {
            let (status, body) = c.by(auth(*k)).await;
            if status != expected(op, *k) {
                wrong.push(format!(
                    "{op} as {k:?}: {status}, expected {} ({body})",
                    expected(op, *k)
                ));
            }
            if status == 401 && BAD_TOKENS.contains(k) && body != r#"{"message":"Unauthorized"}"# {
                wrong.push(format!(
                    "{op} as {k:?}: API Gateway's body expected, got {body}"
                ));
            }
        }
        stack.settle().await;
        let (mut after, mut before) = (written(&stack).await, before);
        if refused.iter().any(|k| expected(op, *k) == 409) {
            // A 409 is stored under its Idempotency-Key, so that a retry of a request
            // that did succeed replays its answer: the one write a refusal may make.
            after.0.remove("IdempotencyTable");
            before.0.remove("IdempotencyTable");
        }
        if after != before {
            wrong.push(format!("{op}: a refusal wrote something"));
        }
        for k in &served {
            let (status, body) = c.by(auth(*k)).await;
            if status != expected(op, *k) {
                wrong.push(format!(
                    "{op} as {k:?}: {status}, expected {} ({body})",
                    expected(op, *k)
                ));
            }
        }
    }
    stack.shutdown().await;
    assert!(
        wrong.is_empty(),
        "authorization matrix:\n  {}",
        wrong.join("\n  ")
    );
}
