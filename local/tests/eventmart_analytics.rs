//! The real `analytics` binary, unchanged, under the Runtime and behind the Gateway with
//! a JWT authorizer on its API routes, reading its table from (and signing its analyst in
//! to a user pool of) the moto server that `scripts/with-moto.sh` started
//! (`AWS_ENDPOINT_URL`), as `make test` runs it.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use eventmart_local::apigateway::jwt::JwtAuthorizer;
use eventmart_local::apigateway::{Authorizer, Gateway, RouteSpec};
use eventmart_local::cognito::{self, Cognito, LOCAL_PASSWORD};
use eventmart_local::lambda::{FunctionSpec, Runtime, RuntimeOptions};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

mod support;
use support::request;

const FN: &str = "AnalyticsFunction";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// target/debug/analytics, built first if it is missing.
fn analytics_binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let binary = target.join("debug/analytics");
    if !binary.exists() {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "analytics"])
            .current_dir(workspace())
            .status()
            .expect("cargo build -p analytics");
        assert!(status.success(), "cargo build -p analytics failed");
    }
    binary
}

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run the tests with `make test` or scripts/with-moto.sh, which start a local moto server",
    )
}

/// A fresh AnalyticsDailyTable (keys as in template.yaml) with one day of numbers.
async fn daily_table() -> String {
    let _ = endpoint();
    let config = eventmart_shared::aws::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = format!(
        "AnalyticsDailyTable-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("series"))
        .attribute_definitions(attribute("day"))
        .key_schema(key("series", KeyType::Hash))
        .key_schema(key("day", KeyType::Range))
        .send()
        .await
        .expect("create the daily table");
    let n = |v: &str| AttributeValue::N(v.into());
    client
        .put_item()
        .table_name(&table)
        .item("series", AttributeValue::S("daily".into()))
        .item("day", AttributeValue::S("2024-03-01".into()))
        .item("ordersPlaced", n("3"))
        .item("ordersCanceled", n("1"))
        .item("grossRevenue_EUR", n("1999"))
        .send()
        .await
        .expect("seed a day");
    table
}

/// A user pool with a client and an analyst signed in: (pool id, client id, id token).
async fn analyst() -> (String, String, String) {
    let cognito = Cognito::new(endpoint());
    let pool = cognito
        .call(
            "CreateUserPool",
            &json!({"PoolName": "analytics-test", "UsernameAttributes": ["email"]}),
        )
        .await
        .expect("pool")["UserPool"]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = cognito
        .call(
            "CreateUserPoolClient",
            &json!({"UserPoolId": pool, "ClientName": "web", "ReadAttributes": ["email", "email_verified"]}),
        )
        .await
        .expect("client")["UserPoolClient"]["ClientId"]
        .as_str()
        .unwrap()
        .to_owned();
    cognito
        .call(
            "CreateGroup",
            &json!({"UserPoolId": pool, "GroupName": "analysts"}),
        )
        .await
        .expect("group");
    let email = "analyst@example.com";
    cognito
        .ensure_user(&pool, &client, email, LOCAL_PASSWORD, &["analysts"])
        .await
        .expect("analyst");
    let tokens = cognito
        .sign_in(&client, email, LOCAL_PASSWORD)
        .await
        .expect("signed in");
    (pool, client, tokens.id_token)
}

#[tokio::test]
async fn the_analytics_function_serves_its_routes_through_the_gateway() {
    let table = daily_table().await;
    let (pool, client, token) = analyst().await;
    let mut spec = FunctionSpec::new(FN, analytics_binary());
    spec.timeout = std::time::Duration::from_secs(10);
    spec.env.insert("ANALYTICS_DAILY_TABLE".into(), table);
    spec.env.insert("RUST_LOG".into(), "info".into());
    spec.env
        .insert("COGNITO_ENDPOINT".into(), format!("{}/", endpoint()));
    spec.env.insert("USER_POOL_ID".into(), pool.clone());
    spec.env
        .insert("USER_POOL_CLIENT_ID".into(), client.clone());
    let options = RuntimeOptions {
        function_logs: Some(Arc::new(|_: &str, _: &str| {})),
        ..RuntimeOptions::default()
    };
    let runtime = Runtime::start(vec![spec], options).await.unwrap();
    let issuer = format!("https://cognito-idp.us-east-1.amazonaws.com/{pool}");
    let authorizer = Arc::new(Authorizer::new(
        "CognitoJwt",
        JwtAuthorizer {
            issuer: issuer.clone(),
            audiences: vec![client],
        },
        "authorization",
        cognito::jwks_url(&endpoint(), &issuer),
    ));
    let routes = vec![
        RouteSpec::new("GET", "/analytics/summary", FN).with_authorizer(authorizer.clone(), vec![]),
        RouteSpec::new("GET", "/analytics/daily", FN).with_authorizer(authorizer, vec![]),
        RouteSpec::new("GET", "/dashboard", FN),
    ];
    let bearer = format!("Bearer {token}");
    let signed_in = [("authorization", bearer.as_str())];
    let gateway = Gateway::start(routes, Arc::new(runtime.handle()))
        .await
        .unwrap();

    let summary = request(
        gateway.addr(),
        "GET",
        "/analytics/summary?from=2024-03-01&to=2024-03-02",
        &signed_in,
        b"",
    )
    .await;
    assert_eq!(summary.status, 200, "{}", summary.text());
    assert!(
        summary
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = summary.json().unwrap();
    assert_eq!(body["from"], "2024-03-01");
    assert_eq!(body["to"], "2024-03-02");
    assert_eq!(body["ordersPlaced"], 3);
    assert_eq!(body["ordersCanceled"], 1);
    assert_eq!(body["netRevenue"], json!({"EUR": 1999}));

    let bad = request(
        gateway.addr(),
        "GET",
        "/analytics/summary?from=yesterday",
        &signed_in,
        b"",
    )
    .await;
    assert_eq!(
        bad.status,
        400,
        "the function's own validation answers: {}",
        bad.text()
    );

    let dashboard = request(gateway.addr(), "GET", "/dashboard", &[], b"").await;
    assert_eq!(dashboard.status, 200);
    assert!(
        dashboard
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(dashboard.text().contains("<html"));

    let missing = request(gateway.addr(), "GET", "/analytics/weekly", &[], b"").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json().unwrap(), json!({"message": "Not Found"}));

    let anonymous = request(gateway.addr(), "GET", "/analytics/daily", &[], b"").await;
    assert_eq!(
        anonymous.status, 401,
        "the authorizer refuses before the function"
    );
    assert_eq!(
        anonymous.json().unwrap(),
        json!({"message": "Unauthorized"})
    );

    let reports = runtime.reports();
    assert_eq!(
        reports.len(),
        3,
        "one invocation per authorized, routed request"
    );
    assert!(reports[0].cold && reports[0].init_duration.is_some());
    assert!(
        reports[1..]
            .iter()
            .all(|r| !r.cold && r.init_duration.is_none())
    );
    assert!(reports.iter().all(|r| r.outcome.is_success()));
    assert!(
        reports
            .iter()
            .all(|r| r.max_rss_kb.is_some_and(|kb| kb > 0))
    );
    assert_eq!(runtime.instances(FN), 1);

    gateway.shutdown().await;
    runtime.shutdown().await;
    assert_eq!(runtime.instances(FN), 0);
}
