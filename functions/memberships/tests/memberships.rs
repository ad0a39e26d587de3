//! The memberships function against a real DynamoDB-compatible server (moto).

use aws_sdk_dynamodb::types::AttributeValue;
use eventmart_shared::events::{Event, MembershipId};
use eventmart_shared::lambda::Function;
use eventmart_shared::producer::CALLER_FIELD_MESSAGE;
use eventmart_tests::{
    create_tables, customer_claims, dynamodb, fixture, response_json, signed_in,
};
use lambda_http::Request;
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

fn body() -> Value {
    json!({"plan": "monthly"})
}

/// A request of the customer `sub` (a Cognito sub), behind the JWT authorizer.
fn request_as(
    sub: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Request {
    let req = eventmart_tests::http_request_with(method, path, body, headers);
    signed_in(req, &customer_claims(sub, "ada@example.com"))
}

impl Env {
    async fn call(
        &self,
        sub: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        response_json(
            &self
                .app
                .handle(request_as(sub, method, path, body, &[]))
                .await,
        )
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
        .call("cust-1", "POST", "/memberships", Some(&body()))
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
    assert_eq!(
        env.call("cust-1", "GET", &path, None).await,
        (200, created.clone())
    );

    let (status, problem) = env
        .call("cust-1", "POST", "/memberships", Some(&body()))
        .await;
    assert_eq!(status, 409, "{problem}");

    let cancel = format!("{path}/cancel");
    let (status, canceled) = env
        .call(
            "cust-1",
            "POST",
            &cancel,
            Some(&json!({"reason": "too expensive"})),
        )
        .await;
    assert_eq!(status, 200, "{canceled}");
    assert_eq!(canceled["status"], "CANCELED");
    assert_eq!(
        env.call("cust-1", "GET", &path, None).await,
        (200, canceled)
    );
    assert!(env.item("CUSTOMER#cust-1").await.is_none());
    let events = env.outbox().await;
    let [_, Event::MembershipCanceled(c)] = events.as_slice() else {
        panic!("MembershipSignedUp then MembershipCanceled expected")
    };
    assert_eq!(c.data.reason.to_string(), "too expensive");

    let (status, _) = env
        .call("cust-1", "POST", &cancel, Some(&json!({"reason": "x"})))
        .await;
    assert_eq!(status, 409);
    let unknown = format!("/memberships/{}", MembershipId::new());
    assert_eq!(env.call("cust-1", "GET", &unknown, None).await.0, 404);
    assert_eq!(
        env.call(
            "cust-1",
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
        env.call("cust-1", "POST", "/memberships", Some(&body()))
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn concurrent_sign_ups_of_one_customer_create_one_membership() {
    let env = env().await;
    let requests = (0..2).map(|_| {
        env.app.handle(request_as(
            "cust-2",
            "POST",
            "/memberships",
            Some(&body()),
            &[],
        ))
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
            "cust-3",
            "POST",
            "/memberships",
            Some(&json!({"email": "no", "plan": "daily"})),
        )
        .await;
    assert_eq!(status, 422);
    let errors: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(errors.len(), 2, "{problem}");
    assert_eq!(errors[0], ("/email", CALLER_FIELD_MESSAGE));
    assert_eq!(errors[1].0, "/plan");
    let big = json!({"plan": "c".repeat(65 * 1024)});
    assert_eq!(
        env.call("cust-3", "POST", "/memberships", Some(&big))
            .await
            .0,
        413
    );

    let send = |sub: &'static str, b: Value| {
        env.app.handle(request_as(
            sub,
            "POST",
            "/memberships",
            Some(&b),
            &[("idempotency-key", "signup-1")],
        ))
    };
    let first = response_json(&send("cust-3", body()).await);
    assert_eq!(first.0, 201);
    assert_eq!(response_json(&send("cust-3", body()).await), first);
    let annual = json!({"plan": "annual"});
    assert_eq!(response_json(&send("cust-3", annual.clone()).await).0, 422);
    assert_eq!(env.outbox().await.len(), 1);
    // The key is cust-3's: another customer's same key is a sign-up of their own.
    let (status, theirs) = response_json(&send("cust-4", annual).await);
    assert_eq!(status, 201, "{theirs}");
    assert_eq!(theirs["customerId"], "cust-4");
    assert_ne!(theirs["membershipId"], first.1["membershipId"]);
    assert_eq!(env.outbox().await.len(), 2);
}

#[tokio::test]
async fn sample_events_run_through_the_handler() {
    let env = env().await;
    let dir = eventmart_tests::repo_root().join("events/memberships");
    let read = |name: &str| {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        lambda_http::request::from_str(&text).unwrap()
    };
    for name in [
        "sign-up.json",
        "get-membership.json",
        "cancel-membership.json",
    ] {
        // As API Gateway sends them: the claims of Ada's id token, every value a string.
        let caller = eventmart_shared::auth::caller(&read(name)).unwrap();
        assert_eq!(
            caller.customer_id().to_string(),
            "7d4e2a1c-5b3f-4e8a-9c6d-1f2e3a4b5c6d"
        );
        assert_eq!(caller.verified_email().unwrap().as_str(), "ada@example.com");
    }
    let (status, created) = response_json(&env.app.handle(read("sign-up.json")).await);
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["customerId"],
        "7d4e2a1c-5b3f-4e8a-9c6d-1f2e3a4b5c6d"
    );
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

#[tokio::test]
async fn another_customers_membership_is_unknown_and_left_alone() {
    let env = env().await;
    let (status, created) = env.call("ada", "POST", "/memberships", Some(&body())).await;
    assert_eq!(status, 201);
    let id = created["membershipId"].as_str().unwrap().to_owned();
    let unknown = MembershipId::new().to_string();
    let items = env.items().await.len();
    let reason = json!({"reason": "not mine"});
    let key = [("idempotency-key", "probe-1")];
    for (method, suffix, body) in [("GET", "", None), ("POST", "/cancel", Some(&reason))] {
        let path = format!("/memberships/{id}{suffix}");
        let foreign = env
            .app
            .handle(request_as("bob", method, &path, body, &key))
            .await;
        let none = env
            .app
            .handle(request_as(
                "bob",
                method,
                &format!("/memberships/{unknown}{suffix}"),
                body,
                &key,
            ))
            .await;
        let (status, foreign) = response_json(&foreign);
        let (_, none) = response_json(&none);
        assert_eq!(status, 404, "{method} {path}: {foreign}");
        assert_eq!(
            foreign["detail"].as_str().unwrap().replace(&id, "<id>"),
            none["detail"].as_str().unwrap().replace(&unknown, "<id>")
        );
    }
    assert_eq!(env.items().await.len(), items, "a refusal wrote");
    assert_eq!(
        env.call("ada", "GET", &format!("/memberships/{id}"), None)
            .await,
        (200, created)
    );
    // Bob joining is no conflict with Ada's membership: one per customer, by sub.
    assert_eq!(
        env.call("bob", "POST", "/memberships", Some(&body()))
            .await
            .0,
        201
    );
}
