//! The handler over in-memory ports.

use crate::App;
use crate::memory::Memory;
use dynamodb_idempotency::InMemoryStore;
use eventmart_shared::events::MembershipId;
use eventmart_shared::producer::CALLER_FIELD_MESSAGE;
use eventmart_tests::{customer_claims, response_json, signed_in};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use std::sync::Arc;

type Mem = App<Memory, Arc<InMemoryStore>>;

fn app() -> (Mem, Memory) {
    let mem = Memory::default();
    (App::new(mem.clone(), mem.0.clone()), mem)
}

/// Cognito subs of the customers the tests sign in as.
const ADA: &str = "7d4e2a1c-5b3f-4e8a-9c6d-1f2e3a4b5c6d";
const BOB: &str = "0c9b8a7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d";

fn claims(sub: &str) -> Vec<(String, String)> {
    let email = if sub == ADA {
        "ada@example.com"
    } else {
        "bob@example.com"
    };
    customer_claims(sub, email)
}

/// A request of the customer `sub`, behind the JWT authorizer.
fn request_as(
    sub: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Request {
    let req = eventmart_tests::http_request_with(method, path, body, headers);
    signed_in(req, &claims(sub))
}

fn sign_up_body() -> Value {
    json!({"plan": "annual"})
}

async fn call_as(
    app: &Mem,
    sub: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    response_json(&app.handle(request_as(sub, method, path, body, &[])).await)
}

async fn call(app: &Mem, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    call_as(app, ADA, method, path, body).await
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

#[tokio::test]
async fn sign_up_get_cancel_and_sign_up_again() {
    let (app, mem) = app();
    let resp = app
        .handle(request_as(
            ADA,
            "POST",
            "/memberships",
            Some(&sign_up_body()),
            &[],
        ))
        .await;
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let (status, body) = response_json(&resp);
    assert_eq!(status, 201, "{body}");
    let id = body["membershipId"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/memberships/{id}"));
    assert_eq!(body["status"], "ACTIVE");
    assert_eq!(body["plan"], "annual");
    assert_eq!(body["customerId"], ADA, "the customer is the token's sub");
    assert_eq!(body["email"], "ada@example.com", "the email the token's");
    // One active membership per customer: the claim is the sub's.
    assert_eq!(mem.0.item(&format!("CUSTOMER#{ADA}")).unwrap(), json!(id));
    assert_eq!(
        call(&app, "GET", &format!("/memberships/{id}"), None).await,
        (200, body.clone())
    );

    let (status, p) = call(&app, "POST", "/memberships", Some(&sign_up_body())).await;
    assert_eq!(status, 409);
    assert!(p["detail"].as_str().unwrap().contains(&id));

    let cancel = format!("/memberships/{id}/cancel");
    let (status, body) = call(&app, "POST", &cancel, Some(&json!({"reason": "bye"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "CANCELED");
    assert_eq!(body["cancelReason"], "bye");
    let (status, _) = call(&app, "POST", &cancel, Some(&json!({"reason": "bye"}))).await;
    assert_eq!(status, 409);

    let (status, _) = call(&app, "POST", "/memberships", Some(&sign_up_body())).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn client_mistakes_are_4xx_problems() {
    let (app, _) = app();
    let body = json!({"customerId": "a b", "email": "x", "plan": "weekly", "extra": true});
    let (status, p) = call(&app, "POST", "/memberships", Some(&body)).await;
    assert_eq!(status, 422);
    let errors: Vec<(&str, &str)> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(errors[0], ("/customerId", CALLER_FIELD_MESSAGE));
    assert_eq!(errors[1], ("/email", CALLER_FIELD_MESSAGE));
    assert_eq!(errors[2].0, "/plan");
    assert_eq!(errors[3], ("/extra", "is not a known field"));
    assert_eq!(errors.len(), 4);
    let big = json!({"plan": "x".repeat(70 * 1024)});
    assert_eq!(call(&app, "POST", "/memberships", Some(&big)).await.0, 413);
    assert_eq!(call(&app, "GET", "/memberships", None).await.0, 405);
    let resp = app
        .handle(request_as(ADA, "POST", "/memberships/x", None, &[]))
        .await;
    assert_eq!(
        (
            resp.status().as_u16(),
            resp.headers()["allow"].to_str().unwrap()
        ),
        (405, "GET")
    );
    assert_eq!(call(&app, "GET", "/memberships/nope", None).await.0, 404);
    let unknown = format!("/memberships/{}/cancel", MembershipId::new());
    assert_eq!(
        call(&app, "POST", &unknown, Some(&json!({"reason": "r"})))
            .await
            .0,
        404
    );
    assert_eq!(call(&app, "GET", "/elsewhere", None).await.0, 404);
}

#[tokio::test]
async fn idempotency_key_replays_and_rejects_another_body() {
    let (app, _) = app();
    let send = |sub: &'static str, body: Value| {
        app.handle(request_as(
            sub,
            "POST",
            "/memberships",
            Some(&body),
            &[("idempotency-key", "k")],
        ))
    };
    let first = response_json(&send(ADA, sign_up_body()).await);
    assert_eq!(first.0, 201);
    // The replay answers 201 again, not the 409 a new sign-up would get.
    assert_eq!(response_json(&send(ADA, sign_up_body()).await), first);
    assert_eq!(
        response_json(&send(ADA, json!({"plan": "monthly"})).await).0,
        422
    );
    // The key is Ada's: Bob's same key is his own sign-up, not Ada's membership.
    let (status, bobs) = response_json(&send(BOB, sign_up_body()).await);
    assert_eq!(status, 201, "{bobs}");
    assert_ne!(bobs["membershipId"], first.1["membershipId"]);
    assert_eq!(bobs["customerId"], BOB);
    assert_eq!(response_json(&send(BOB, sign_up_body()).await), (201, bobs));
    assert_eq!(response_json(&send(ADA, sign_up_body()).await), first);
}

#[tokio::test]
async fn malformed_and_unknown_ids_get_the_same_answer() {
    let (app, _) = app();
    let unknown = MembershipId::new().to_string();
    for id in ["nope", unknown.as_str()] {
        let expected = format!("membership {id} does not exist");
        let (status, p) = call(&app, "GET", &format!("/memberships/{id}"), None).await;
        assert_eq!(
            (status, p["detail"].as_str()),
            (404, Some(expected.as_str()))
        );
        let cancel = format!("/memberships/{id}/cancel");
        let (status, p) = call(&app, "POST", &cancel, Some(&json!({"reason": "r"}))).await;
        assert_eq!(
            (status, p["detail"].as_str()),
            (404, Some(expected.as_str()))
        );
    }
    let resp = app
        .handle(request_as(ADA, "GET", "/memberships/x/cancel", None, &[]))
        .await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
}

#[tokio::test]
async fn without_claims_every_route_is_401_and_writes_nothing() {
    let (app, mem) = app();
    let (_, created) = call(&app, "POST", "/memberships", Some(&sign_up_body())).await;
    let id = created["membershipId"].as_str().unwrap().to_owned();
    mem.0.take_committed();
    let reason = json!({"reason": "r"});
    let cancel = format!("/memberships/{id}/cancel");
    let get = format!("/memberships/{id}");
    let key = [("idempotency-key", "k-401")];
    let plain = |method: &str, path: &str, body: Option<&Value>, headers: &[(&str, &str)]| {
        eventmart_tests::http_request_with(method, path, body, headers)
    };
    let requests = [
        plain("POST", "/memberships", Some(&sign_up_body()), &key),
        plain("POST", "/memberships", Some(&json!({"plan": 1})), &[]),
        plain("GET", &get, None, &[]),
        plain("GET", "/memberships/nope", None, &[]),
        plain("POST", &cancel, Some(&reason), &key),
        plain("POST", &cancel, Some(&reason), &[]),
    ];
    for req in requests {
        let what = format!("{} {}", req.method(), req.uri());
        let resp = app.handle(req).await;
        assert_eq!(resp.status(), 401, "{what}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        let (_, body) = response_json(&resp);
        assert_eq!(body["type"], "urn:eventmart:problem:unauthenticated");
    }
    assert!(mem.0.committed().is_empty());
    assert_eq!(call(&app, "GET", &get, None).await, (200, created));
}

#[tokio::test]
async fn signing_up_needs_a_verified_email_in_the_token() {
    let (app, mem) = app();
    let mut unverified = claims(ADA);
    unverified.retain(|(k, _)| k != "email_verified");
    let req = signed_in(
        eventmart_tests::http_request("POST", "/memberships", Some(&sign_up_body())),
        &unverified,
    );
    let resp = app.handle(req).await;
    let (status, problem) = response_json(&resp);
    assert_eq!(status, 403, "{problem}");
    assert_eq!(problem["type"], "urn:eventmart:problem:forbidden");
    assert!(mem.0.committed().is_empty());
    assert!(mem.0.item(&format!("CUSTOMER#{ADA}")).is_none());
}

#[tokio::test]
async fn one_active_membership_per_sub() {
    let (app, mem) = app();
    let (status, adas) = call_as(&app, ADA, "POST", "/memberships", Some(&sign_up_body())).await;
    assert_eq!(status, 201);
    let (status, bobs) = call_as(&app, BOB, "POST", "/memberships", Some(&sign_up_body())).await;
    assert_eq!(status, 201, "another customer is free to join: {bobs}");
    let (status, p) = call_as(&app, ADA, "POST", "/memberships", Some(&sign_up_body())).await;
    assert_eq!(status, 409);
    assert_eq!(
        p["detail"],
        format!(
            "the customer already has an active membership ({})",
            adas["membershipId"].as_str().unwrap()
        )
    );
    let customers: Vec<String> = mem
        .0
        .committed()
        .iter()
        .filter(|w| w.key.starts_with("CUSTOMER#"))
        .map(|w| w.key.clone())
        .collect();
    assert_eq!(
        customers,
        [format!("CUSTOMER#{ADA}"), format!("CUSTOMER#{BOB}")]
    );
}

/// Bob asking about Ada's membership gets, byte for byte, what he gets where no such
/// membership exists; and nothing is written.
#[tokio::test]
async fn another_customers_membership_is_answered_as_an_unknown_one_and_left_alone() {
    let (empty, _) = app();
    let (app, mem) = app();
    let (_, created) = call(&app, "POST", "/memberships", Some(&sign_up_body())).await;
    let id = created["membershipId"].as_str().unwrap().to_owned();
    mem.0.take_committed();
    let get = format!("/memberships/{id}");
    let cancel = format!("{get}/cancel");
    let reason = json!({"reason": "not mine"});
    let key = [("idempotency-key", "k-probe")];
    let requests = || {
        vec![
            request_as(BOB, "GET", &get, None, &[]),
            request_as(BOB, "POST", &cancel, Some(&reason), &[]),
            request_as(BOB, "POST", &cancel, Some(&reason), &key),
            request_as(BOB, "POST", &cancel, Some(&json!({"reason": "b"})), &key),
        ]
    };
    for (foreign, unknown) in requests().into_iter().zip(requests()) {
        let what = format!("{} {}", foreign.method(), foreign.uri());
        let foreign = raw(&app.handle(foreign).await);
        assert_eq!(foreign, raw(&empty.handle(unknown).await), "{what}");
        assert_eq!(foreign.0, 404, "{what}");
        let body: Value = serde_json::from_slice(&foreign.2).unwrap();
        assert_eq!(body["detail"], format!("membership {id} does not exist"));
    }
    assert!(mem.0.committed().is_empty(), "a refusal wrote");
    let record = format!("memberships#{BOB}#POST /memberships/{id}/cancel#k-probe");
    assert!(mem.0.record(&record).is_none());
    assert_eq!(call(&app, "GET", &get, None).await, (200, created.clone()));
    assert_eq!(mem.0.item(&format!("CUSTOMER#{ADA}")).unwrap(), json!(id));
    // Ada cancels it herself, with the key Bob tried.
    let resp = app
        .handle(request_as(ADA, "POST", &cancel, Some(&reason), &key))
        .await;
    let (status, canceled) = response_json(&resp);
    assert_eq!(status, 200, "{canceled}");
    let events = mem.0.committed();
    let outbox: Vec<&str> = events
        .iter()
        .filter(|w| w.key.starts_with("OUTBOX#"))
        .map(|w| w.value["DetailType"].as_str().unwrap())
        .collect();
    assert_eq!(outbox, ["MembershipCanceled"]);
}
