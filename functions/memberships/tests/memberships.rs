//! The memberships function against a real DynamoDB-compatible server (moto).

use aws_sdk_dynamodb::types::AttributeValue;
use eventmart_shared::events::{Event, MembershipId};
use eventmart_shared::lambda::Function;
use eventmart_tests::{
    create_tables, dynamodb, fixture, http_request, http_request_with, response_json,
};
use memberships::{Deployed, Settings};
use serde_json::{Value, json};
use std::collections::HashMap;

struct Env {
    app: Deployed,
    client: aws_sdk_dynamodb::Client,
    table: String,
}

async fn env() -> Env {
    let (client, _) = dynamodb().await;
    let tables = create_tables(&client).await;
    let app = memberships::app::build(
        &eventmart_tests::sdk_config().await,
        &Settings {
            memberships_table: tables["MembershipsTable"].clone(),
            idempotency_table: tables["IdempotencyTable"].clone(),
        },
    );
    Env {
        app,
        client,
        table: tables["MembershipsTable"].clone(),
    }
}

fn body(customer: &str) -> Value {
    json!({"customerId": customer, "email": "ada@example.com", "plan": "monthly"})
}

impl Env {
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        response_json(&self.app.handle(http_request(method, path, body)).await)
    }

    async fn items(&self) -> Vec<HashMap<String, AttributeValue>> {
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

    async fn item(&self, pk: &str) -> Option<HashMap<String, AttributeValue>> {
        self.items()
            .await
            .into_iter()
            .find(|i| i["pk"].as_s().unwrap() == pk)
    }

    async fn outbox(&self) -> Vec<Event> {
        eventmart_tests::outbox_events(&self.client, &self.table).await
    }
}

#[tokio::test]
async fn sign_up_get_cancel() {
    let env = env().await;
    let (status, created) = env
        .call("POST", "/memberships", Some(&body("cust-1")))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["membershipId"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(
        env.item("CUSTOMER#cust-1").await.unwrap()["membershipId"]
            .as_s()
            .unwrap(),
        &id
    );
    let events = env.outbox().await;
    let [Event::MembershipSignedUp(e)] = events.as_slice() else {
        panic!("one MembershipSignedUp expected, got {events:?}")
    };
    assert_eq!(e.data.membership_id.to_string(), id);

    let path = format!("/memberships/{id}");
    assert_eq!(env.call("GET", &path, None).await, (200, created.clone()));

    let (status, problem) = env
        .call("POST", "/memberships", Some(&body("cust-1")))
        .await;
    assert_eq!(status, 409, "{problem}");

    let cancel = format!("{path}/cancel");
    let (status, canceled) = env
        .call("POST", &cancel, Some(&json!({"reason": "too expensive"})))
        .await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], "CANCELED");
    assert_eq!(env.call("GET", &path, None).await, (200, canceled));
    assert!(env.item("CUSTOMER#cust-1").await.is_none());
    let events = env.outbox().await;
    let [_, Event::MembershipCanceled(c)] = events.as_slice() else {
        panic!("MembershipSignedUp then MembershipCanceled expected")
    };
    assert_eq!(c.data.reason.to_string(), "too expensive");

    let (status, _) = env
        .call("POST", &cancel, Some(&json!({"reason": "x"})))
        .await;
    assert_eq!(status, 409);
    let unknown = format!("/memberships/{}", MembershipId::new());
    assert_eq!(env.call("GET", &unknown, None).await.0, 404);
    assert_eq!(
        env.call(
            "POST",
            &format!("{unknown}/cancel"),
            Some(&json!({"reason": "x"}))
        )
        .await
        .0,
        404
    );
    // Free again after the cancel.
    assert_eq!(
        env.call("POST", "/memberships", Some(&body("cust-1")))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn concurrent_sign_ups_of_one_customer_create_one_membership() {
    let env = env().await;
    let requests = (0..2).map(|_| {
        env.app
            .handle(http_request("POST", "/memberships", Some(&body("cust-2"))))
    });
    let mut statuses: Vec<u16> = futures::future::join_all(requests)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    statuses.sort();
    assert_eq!(statuses, vec![201, 409]);
    assert_eq!(env.outbox().await.len(), 1);
}

#[tokio::test]
async fn validation_413_and_idempotency_key() {
    let env = env().await;
    let (status, problem) = env
        .call(
            "POST",
            "/memberships",
            Some(&json!({"email": "no", "plan": "daily"})),
        )
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["/customerId", "/email", "/plan"]);
    let big = json!({"customerId": "c".repeat(65 * 1024)});
    assert_eq!(env.call("POST", "/memberships", Some(&big)).await.0, 413);

    let send = |b: Value| {
        env.app.handle(http_request_with(
            "POST",
            "/memberships",
            Some(&b),
            &[("idempotency-key", "signup-1")],
        ))
    };
    let first = response_json(&send(body("cust-3")).await);
    assert_eq!(first.0, 201);
    assert_eq!(response_json(&send(body("cust-3")).await), first);
    assert_eq!(response_json(&send(body("cust-4")).await).0, 422);
    assert_eq!(env.outbox().await.len(), 1);
}

#[tokio::test]
async fn sample_events_run_through_the_handler() {
    let env = env().await;
    let dir = eventmart_tests::repo_root().join("events/memberships");
    let read = |name: &str| {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        lambda_http::request::from_str(&text).unwrap()
    };
    let (status, created) = response_json(&env.app.handle(read("sign-up.json")).await);
    assert_eq!(status, 201, "{created}");
    // The other samples name membership 0193b3a4-2222-…; it does not exist here.
    assert_eq!(
        env.app.handle(read("get-membership.json")).await.status(),
        404
    );
    assert_eq!(
        env.app
            .handle(read("cancel-membership.json"))
            .await
            .status(),
        404
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);

    // The same payloads through the Lambda entry point; an event is not for this function.
    let invoke = |payload: Value| {
        env.app.invoke(lambda_runtime::LambdaEvent::new(
            payload,
            lambda_runtime::Context::default(),
        ))
    };
    let response = invoke(fixture("events/memberships/get-membership.json"))
        .await
        .unwrap();
    assert_eq!(response["statusCode"], 404);
    assert!(
        invoke(fixture("events/eventbridge/OrderShipped.json"))
            .await
            .is_err()
    );
}
