//! The handler over in-memory ports.

use crate::App;
use crate::memory::Memory;
use dynamodb_idempotency::InMemoryStore;
use eventmart_shared::events::MembershipId;
use eventmart_tests::{http_request, http_request_with, response_json};
use serde_json::{Value, json};
use std::sync::Arc;

type Mem = App<Memory, Arc<InMemoryStore>>;

fn app() -> (Mem, Memory) {
    let mem = Memory::default();
    (App::new(mem.clone(), mem.0.clone()), mem)
}

fn sign_up_body(customer: &str) -> Value {
    json!({"customerId": customer, "email": "ada@example.com", "plan": "annual"})
}

async fn call(app: &Mem, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    response_json(&app.handle(http_request(method, path, body)).await)
}

#[tokio::test]
async fn sign_up_get_cancel_and_sign_up_again() {
    let (app, mem) = app();
    let resp = app
        .handle(http_request(
            "POST",
            "/memberships",
            Some(&sign_up_body("c-1")),
        ))
        .await;
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let (status, body) = response_json(&resp);
    assert_eq!(status, 201, "{body}");
    let id = body["membershipId"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/memberships/{id}"));
    assert_eq!(body["status"], "ACTIVE");
    assert_eq!(body["plan"], "annual");
    assert_eq!(mem.0.item("CUSTOMER#c-1").unwrap(), json!(id));
    assert_eq!(
        call(&app, "GET", &format!("/memberships/{id}"), None).await,
        (200, body.clone())
    );

    let (status, p) = call(&app, "POST", "/memberships", Some(&sign_up_body("c-1"))).await;
    assert_eq!(status, 409);
    assert!(p["detail"].as_str().unwrap().contains(&id));

    let cancel = format!("/memberships/{id}/cancel");
    let (status, body) = call(&app, "POST", &cancel, Some(&json!({"reason": "bye"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "CANCELED");
    assert_eq!(body["cancelReason"], "bye");
    let (status, _) = call(&app, "POST", &cancel, Some(&json!({"reason": "bye"}))).await;
    assert_eq!(status, 409);

    let (status, _) = call(&app, "POST", "/memberships", Some(&sign_up_body("c-1"))).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn client_mistakes_are_4xx_problems() {
    let (app, _) = app();
    let body = json!({"customerId": "a b", "email": "x", "plan": "weekly", "extra": true});
    let (status, p) = call(&app, "POST", "/memberships", Some(&body)).await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["/customerId", "/email", "/plan", "/extra"]);
    let big = json!({"customerId": "x".repeat(70 * 1024)});
    assert_eq!(call(&app, "POST", "/memberships", Some(&big)).await.0, 413);
    assert_eq!(call(&app, "GET", "/memberships", None).await.0, 405);
    let resp = app
        .handle(http_request("POST", "/memberships/x", None))
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
    let send = |body: Value| {
        app.handle(http_request_with(
            "POST",
            "/memberships",
            Some(&body),
            &[("idempotency-key", "k")],
        ))
    };
    let first = response_json(&send(sign_up_body("c-2")).await);
    assert_eq!(first.0, 201);
    // The replay answers 201 again, not the 409 a new sign-up would get.
    assert_eq!(response_json(&send(sign_up_body("c-2")).await), first);
    assert_eq!(response_json(&send(sign_up_body("c-3")).await).0, 422);
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
        .handle(http_request("GET", "/memberships/x/cancel", None))
        .await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
}
