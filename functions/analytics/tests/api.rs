//! The analytics API against a real DynamoDB-compatible server (moto): day items are
//! written with the documented layout of AnalyticsDailyTable, then read over HTTP.

use analytics::app::{self, Settings};
use analytics::{App, DynamoDailyStore, SignIn};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use eventmart_shared::aws::RequestCounter;
use eventmart_shared::lambda::Function;
use eventmart_tests::{
    create_tables, customer_claims, dynamodb, http_request, repo_root, response_json, sdk_config,
    signed_in, staff_claims,
};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};

const ENDPOINT: &str = "https://cognito-idp.us-east-1.amazonaws.com/";

fn sign_in() -> SignIn {
    SignIn::new(ENDPOINT, "us-east-1_example", "exampleclient").unwrap()
}

fn analyst() -> Vec<(String, String)> {
    staff_claims(
        "0b5e7a8c-2f4d-4e21-9c3a-6d8f1e2a7b90",
        "analyst@example.com",
        &["analysts"],
    )
}

struct Env {
    client: Client,
    counter: RequestCounter,
    table: String,
}

async fn env() -> Env {
    let (client, counter) = dynamodb().await;
    let tables = create_tables(&client).await;
    counter.reset();
    Env {
        client,
        counter,
        table: tables["AnalyticsDailyTable"].clone(),
    }
}

impl Env {
    /// Over the client that counts requests.
    fn app(&self) -> App<DynamoDailyStore> {
        App::new(
            DynamoDailyStore::new(self.client.clone(), &self.table),
            &sign_in(),
        )
    }

    /// Writes one day item: `series`, `day` and the given number attributes.
    async fn put_day(&self, series: &str, day: &str, numbers: &[(&str, u64)]) {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("series", AttributeValue::S(series.into()))
            .item("day", AttributeValue::S(day.into()));
        for (name, v) in numbers {
            req = req.item(*name, AttributeValue::N(v.to_string()));
        }
        req.send().await.expect("put day");
    }

    fn queries(&self) -> u64 {
        let n = self.counter.snapshot().get("Query").copied().unwrap_or(0);
        self.counter.reset();
        n
    }
}

/// A GET by an analyst.
async fn get(app: &App<DynamoDailyStore>, path: &str) -> (u16, Value) {
    let req = signed_in(http_request("GET", path, None), &analyst());
    response_json(&app.handle(req).await)
}

fn day_names(body: &Value) -> Vec<String> {
    body["days"]
        .as_array()
        .expect("days")
        .iter()
        .map(|d| d["day"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn daily_and_summary_over_stored_days_with_several_currencies() {
    let env = env().await;
    env.put_day(
        "daily",
        "2024-02-28",
        &[
            ("ordersPlaced", 3),
            ("grossRevenue_EUR", 4500),
            ("grossRevenue_USD", 1200),
            ("discountedOrders", 2),
            ("discountsGiven_EUR", 1149),
            ("discountsGiven_USD", 60),
            ("signUps", 4),
        ],
    )
    .await;
    env.put_day(
        "daily",
        "2024-03-01",
        &[
            ("ordersPlaced", 1),
            ("ordersCanceled", 2),
            ("shipments", 2),
            ("membershipCancellations", 1),
            ("grossRevenue_EUR", 500),
            ("canceledRevenue_EUR", 3000),
            ("canceledRevenue_JPY", 800),
            ("discountedOrders", 1),
            ("discountsGiven_EUR", 50),
        ],
    )
    .await;
    // Outside the range, and another series on a day inside it: neither is counted.
    env.put_day("daily", "2024-03-03", &[("ordersPlaced", 100)])
        .await;
    env.put_day("weekly", "2024-02-29", &[("ordersPlaced", 100)])
        .await;
    let app = env.app();
    env.queries();

    let (status, daily) = get(&app, "/analytics/daily?from=2024-02-27&to=2024-03-02").await;
    assert_eq!(status, 200, "{daily}");
    assert_eq!(env.queries(), 1);
    assert_eq!(
        day_names(&daily),
        [
            "2024-02-27",
            "2024-02-28",
            "2024-02-29",
            "2024-03-01",
            "2024-03-02"
        ]
    );
    let days = daily["days"].as_array().unwrap();
    let zero = json!({"day": "2024-02-29", "ordersPlaced": 0, "ordersCanceled": 0,
        "shipments": 0, "signUps": 0, "membershipCancellations": 0,
        "discountedOrders": 0,
        "grossRevenue": {}, "canceledRevenue": {}, "discountsGiven": {}});
    assert_eq!(days[2], zero);
    assert_eq!(days[1]["grossRevenue"], json!({"EUR": 4500, "USD": 1200}));
    assert_eq!(days[1]["signUps"], 4);
    assert_eq!(days[1]["discountedOrders"], 2);
    assert_eq!(days[1]["discountsGiven"], json!({"EUR": 1149, "USD": 60}));
    assert_eq!(days[3]["discountsGiven"], json!({"EUR": 50}));
    assert_eq!(days[3]["canceledRevenue"], json!({"EUR": 3000, "JPY": 800}));
    assert_eq!(days[3]["ordersCanceled"], 2);

    let (status, summary) = get(&app, "/analytics/summary?from=2024-02-27&to=2024-03-02").await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(env.queries(), 1);
    assert_eq!(
        summary,
        json!({
            "from": "2024-02-27", "to": "2024-03-02",
            "ordersPlaced": 4, "ordersCanceled": 2, "shipments": 2, "signUps": 4,
            "membershipCancellations": 1,
            "discountedOrders": 3,
            "grossRevenue": {"EUR": 5000, "USD": 1200},
            "canceledRevenue": {"EUR": 3000, "JPY": 800},
            "discountsGiven": {"EUR": 1199, "USD": 60},
            "netRevenue": {"EUR": 2000, "JPY": -800, "USD": 1200},
            "cancellationRate": 0.5,
            "churnRate": 0.25
        })
    );
}

#[tokio::test]
async fn an_empty_range_is_all_zeros_with_null_rates() {
    let env = env().await;
    let app = env.app();
    let (status, daily) = get(&app, "/analytics/daily?from=2025-12-30&to=2026-01-02").await;
    assert_eq!(status, 200);
    assert_eq!(
        day_names(&daily),
        ["2025-12-30", "2025-12-31", "2026-01-01", "2026-01-02"]
    );
    assert!(
        daily["days"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["ordersPlaced"] == 0 && d["grossRevenue"] == json!({}))
    );
    let (status, summary) = get(&app, "/analytics/summary?from=2025-12-30&to=2026-01-02").await;
    assert_eq!(status, 200);
    assert_eq!(summary["ordersPlaced"], 0);
    assert!(summary["cancellationRate"].is_null());
    assert!(summary["churnRate"].is_null());
    assert_eq!(summary["netRevenue"], json!({}));
}

#[tokio::test]
async fn a_leap_year_of_days_is_read_across_pages() {
    let env = env().await;
    let first = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let last = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
    // Every third day of 2024 has data; the first of 2025 too, outside the range.
    let days: Vec<String> = first
        .iter_days()
        .step_by(3)
        .take_while(|d| *d <= last)
        .map(|d| d.to_string())
        .collect();
    for (i, day) in days.iter().enumerate() {
        let i = i as u64 + 1;
        env.put_day(
            "daily",
            day,
            &[("ordersPlaced", i), ("grossRevenue_EUR", i * 100)],
        )
        .await;
    }
    let app = App::new(
        DynamoDailyStore::new(env.client.clone(), &env.table).with_page_size(10),
        &sign_in(),
    );
    env.queries();

    let (status, daily) = get(&app, "/analytics/daily?from=2024-01-01&to=2024-12-31").await;
    assert_eq!(status, 200, "{daily}");
    let in_range = days.iter().filter(|d| d.starts_with("2024")).count() as u64;
    assert_eq!(in_range, 122);
    let pages = env.queries();
    assert!(
        pages >= in_range.div_ceil(10),
        "{pages} Query pages for {in_range} items"
    );
    let rows = daily["days"].as_array().unwrap();
    assert_eq!(rows.len(), 366);
    assert_eq!(rows[365]["day"], "2024-12-31");
    let with_orders = rows.iter().filter(|d| d["ordersPlaced"] != 0).count() as u64;
    assert_eq!(with_orders, in_range);
    assert_eq!(rows[3]["ordersPlaced"], 2);

    let (status, summary) = get(&app, "/analytics/summary?from=2024-01-01&to=2024-12-31").await;
    assert_eq!(status, 200);
    let expected: u64 = (1..=in_range).sum();
    assert_eq!(summary["ordersPlaced"], expected);
    assert_eq!(summary["grossRevenue"]["EUR"], expected * 100);
    assert_eq!(summary["netRevenue"]["EUR"], expected * 100);
}

#[tokio::test]
async fn invalid_ranges_are_400_without_reading_the_table() {
    let env = env().await;
    let app = env.app();
    for (query, fields) in [
        ("?to=2024-01-01", vec!["from"]),
        ("?from=2024-02-30&to=yesterday", vec!["from", "to"]),
        ("?from=2024-05-01&to=2024-04-30", vec!["from"]),
        ("?from=2024-01-01&to=2025-01-01", vec!["to"]),
    ] {
        let (status, body) = get(&app, &format!("/analytics/summary{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        let got: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(got, fields, "{query}");
    }
    assert_eq!(env.queries(), 0);
}

#[tokio::test]
async fn a_missing_table_is_a_503_problem() {
    let env = env().await;
    let app = app::build(
        &sdk_config().await,
        &Settings {
            daily_table: format!("{}-does-not-exist", env.table),
            sign_in: sign_in(),
        },
    );
    let req = http_request(
        "GET",
        "/analytics/daily?from=2024-01-01&to=2024-01-02",
        None,
    );
    let resp = app.handle(signed_in(req, &analyst())).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn the_dashboard_is_served_as_html_with_no_other_hosts() {
    let env = env().await;
    let resp = env
        .app()
        .handle(http_request("GET", "/dashboard", None))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");
    let html = std::str::from_utf8(resp.body().as_ref()).unwrap();
    assert!(html.contains("id=\"orders-placed-total\""));
    assert!(html.contains("<svg") || html.contains("svg viewBox"));
    // The configured Cognito endpoint, in the config block, is the one URL of the page.
    let lower = html.replacen(ENDPOINT, "", 1).to_ascii_lowercase();
    assert!(!lower.contains("http://"), "the page names an http URL");
    assert!(!lower.contains("https://"), "the page names an https URL");
    assert_eq!(env.queries(), 0);
}

/// Every sample event in events/analytics/, as Lambda hands it to the function.
#[tokio::test]
async fn the_sample_events_are_served() {
    let env = env().await;
    // The day of the sample OrderPlaced (an annual member's 11499 EUR less 1149) and of
    // a non-member's order of the same basket.
    env.put_day(
        "daily",
        "2026-11-20",
        &[
            ("ordersPlaced", 2),
            ("grossRevenue_EUR", 10350 + 11499),
            ("discountedOrders", 1),
            ("discountsGiven_EUR", 1149),
        ],
    )
    .await;
    let app = env.app();
    let dir = repo_root().join("events/analytics");
    let mut seen = vec![];
    for entry in std::fs::read_dir(&dir).expect("events/analytics") {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        // Through the function's own dispatch, as the Lambda runtime calls it.
        let payload: Value = serde_json::from_str(&text).unwrap();
        let invoked = app
            .invoke(LambdaEvent::new(payload, Context::default()))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(invoked["statusCode"], 200, "{name}");
        let req = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let resp = app.handle(req).await;
        assert_eq!(resp.status(), 200, "{name}");
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        match name.as_str() {
            "daily" => {
                let (_, body) = response_json(&resp);
                assert_eq!(body["days"].as_array().unwrap().len(), 30);
                assert_eq!(body["days"][19]["day"], "2026-11-20");
                assert_eq!(body["days"][19]["ordersPlaced"], 2);
                assert_eq!(body["days"][19]["discountedOrders"], 1);
                assert_eq!(body["days"][19]["discountsGiven"], json!({"EUR": 1149}));
            }
            "summary" => {
                let (_, body) = response_json(&resp);
                assert_eq!(body["ordersPlaced"], 2);
                assert_eq!(body["grossRevenue"]["EUR"], 21849);
                assert_eq!(body["discountedOrders"], 1);
                assert_eq!(body["discountsGiven"], json!({"EUR": 1149}));
            }
            "dashboard" => assert!(content_type.starts_with("text/html")),
            other => panic!("no expectation for events/analytics/{other}.json"),
        }
        seen.push(name);
    }
    seen.sort();
    assert_eq!(seen, ["daily", "dashboard", "summary"]);
}

/// The analyst's claims are what lets the sample events through: without them, or with a
/// customer's, the same events are refused before the table is read.
#[tokio::test]
async fn the_sample_events_without_an_analyst_are_refused() {
    let env = env().await;
    let app = env.app();
    env.queries();
    for name in ["daily", "summary"] {
        let event = eventmart_tests::fixture(&format!("events/analytics/{name}.json"));
        let claims = &event["requestContext"]["authorizer"]["jwt"]["claims"];
        assert_eq!(claims["cognito:groups"], "[analysts]", "{name}");
        assert_eq!(claims["token_use"], "id", "{name}");
        assert!(event["requestContext"]["authorizer"]["jwt"]["scopes"].is_null());

        let mut anonymous = event.clone();
        anonymous["requestContext"]
            .as_object_mut()
            .unwrap()
            .remove("authorizer");
        let mut customer = event.clone();
        customer["requestContext"]["authorizer"]["jwt"]["claims"]
            .as_object_mut()
            .unwrap()
            .remove("cognito:groups");
        for (who, payload, status) in [
            ("no authorizer", anonymous, 401),
            ("a customer", customer, 403),
        ] {
            let invoked = app
                .invoke(LambdaEvent::new(payload, Context::default()))
                .await
                .unwrap();
            assert_eq!(invoked["statusCode"], status, "{name}: {who}");
        }
    }
    let dashboard = eventmart_tests::fixture("events/analytics/dashboard.json");
    assert!(dashboard["requestContext"].get("authorizer").is_none());
    assert_eq!(env.queries(), 0);
}

/// The claims as `eventmart_tests` renders them for the other callers: refused on AWS's
/// table as in memory.
#[tokio::test]
async fn only_analysts_read_the_table() {
    let env = env().await;
    let app = env.app();
    env.queries();
    let path = "/analytics/summary?from=2024-01-01&to=2024-01-02";
    let sub = "0b5e7a8c-2f4d-4e21-9c3a-6d8f1e2a7b90";
    for (claims, status) in [
        (customer_claims(sub, "alice@example.com"), 403),
        (staff_claims(sub, "bob@example.com", &["warehouse"]), 403),
        (analyst(), 200),
    ] {
        let resp = app
            .handle(signed_in(http_request("GET", path, None), &claims))
            .await;
        assert_eq!(resp.status(), status, "{claims:?}");
    }
    let resp = app.handle(http_request("GET", path, None)).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        env.queries(),
        1,
        "only the analyst's request reads the table"
    );
}

#[tokio::test]
async fn an_event_that_is_no_http_request_is_an_error() {
    let env = env().await;
    let event = eventmart_tests::fixture("events/eventbridge/OrderPlaced.json");
    let err = env
        .app()
        .invoke(LambdaEvent::new(event, Context::default()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP routes only"), "{err}");
    assert_eq!(env.queries(), 0);
}

/// A discount attribute that breaks the layout is a 500 naming no data, as for revenue.
#[tokio::test]
async fn a_malformed_discount_attribute_is_a_500() {
    let env = env().await;
    env.client
        .put_item()
        .table_name(&env.table)
        .item("series", AttributeValue::S("daily".into()))
        .item("day", AttributeValue::S("2024-05-01".into()))
        .item("ordersPlaced", AttributeValue::N("1".into()))
        .item("discountsGiven_EUR", AttributeValue::S("11.49".into()))
        .send()
        .await
        .expect("put day");
    let app = env.app();
    for route in ["/analytics/daily", "/analytics/summary"] {
        let (status, body) = get(&app, &format!("{route}?from=2024-05-01&to=2024-05-01")).await;
        assert_eq!(status, 500, "{route}: {body}");
        assert!(!body.to_string().contains("11.49"), "{body}");
    }
}
