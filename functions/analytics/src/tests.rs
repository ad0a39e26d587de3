//! The handler with in-memory stores.

use crate::app::{
    ANALYTICS_DAILY_TABLE, App, COGNITO_ENDPOINT, Settings, USER_POOL_CLIENT_ID, USER_POOL_ID,
};
use crate::dashboard::{CONFIG_PLACEHOLDER, DASHBOARD_HTML, SignIn};
use crate::domain::{self, Counters, DateRange, Day, MINOR_DIGITS};
use crate::memory::MemoryDailyStore;
use crate::ports::{DailyStore, StoreError};
use eventmart_tests::{customer_claims, signed_in, staff_claims};
use lambda_http::{Body, Request, Response};
use retryable::Retryable;
use serde_json::{Value, json};
use std::collections::HashMap;

const ANALYST: &str = "0b5e7a8c-2f4d-4e21-9c3a-6d8f1e2a7b90";
const ENDPOINT: &str = "https://cognito-idp.us-east-1.amazonaws.com/";
const CONFIG_OPEN: &str = r#"<script type="application/json" id="config">"#;

struct FailingStore(fn() -> StoreError);

impl DailyStore for FailingStore {
    async fn days(&self, _: DateRange) -> Result<Vec<Day>, StoreError> {
        Err((self.0)())
    }
}

fn day(s: &str, f: impl FnOnce(&mut Counters)) -> Day {
    let mut counters = Counters::default();
    f(&mut counters);
    Day {
        day: domain::parse_day(s).unwrap(),
        counters,
    }
}

fn sign_in() -> SignIn {
    SignIn::new(ENDPOINT, "us-east-1_example", "exampleclient").unwrap()
}

fn app<S: DailyStore>(store: S) -> App<S> {
    App::new(store, &sign_in())
}

/// A GET by an analyst.
fn get(path: &str) -> Request {
    as_analyst(req("GET", path))
}

fn as_analyst(req: Request) -> Request {
    signed_in(
        req,
        &staff_claims(ANALYST, "analyst@example.com", &["analysts"]),
    )
}

/// A request with no authorizer claims at all.
fn req(method: &str, path: &str) -> Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"))
        .body(Body::Empty)
        .unwrap()
}

fn html(resp: &Response<Body>) -> &str {
    std::str::from_utf8(resp.body().as_ref()).unwrap()
}

/// The text of the page's config block, as the browser's `textContent` gives it.
fn config_text(page: &str) -> &str {
    let start = page.find(CONFIG_OPEN).expect("a config block") + CONFIG_OPEN.len();
    let len = page[start..].find("</script>").expect("the block ends");
    &page[start..start + len]
}

fn body(resp: &Response<Body>) -> Value {
    serde_json::from_slice(resp.body().as_ref()).unwrap()
}

fn content_type(resp: &Response<Body>) -> &str {
    resp.headers()["content-type"].to_str().unwrap()
}

fn store() -> MemoryDailyStore {
    MemoryDailyStore::new(vec![
        day("2024-02-28", |c| {
            c.orders_placed = 2;
            c.gross_revenue = [("EUR".parse().unwrap(), 3000)].into();
            c.discounted_orders = 1;
            c.discounts_given = [("EUR".parse().unwrap(), 1149)].into();
            c.sign_ups = 2;
        }),
        day("2024-03-01", |c| {
            c.orders_placed = 2;
            c.orders_canceled = 1;
            c.canceled_revenue = [("EUR".parse().unwrap(), 1000)].into();
            c.gross_revenue = [("USD".parse().unwrap(), 700)].into();
            c.discounted_orders = 2;
            c.discounts_given =
                [("EUR".parse().unwrap(), 100), ("USD".parse().unwrap(), 35)].into();
            c.membership_cancellations = 1;
            c.shipments = 1;
        }),
    ])
}

#[tokio::test]
async fn daily_has_a_row_for_every_day() {
    let app = app(store());
    let resp = app
        .handle(get("/analytics/daily?from=2024-02-28&to=2024-03-02"))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "application/json");
    let b = body(&resp);
    assert_eq!(b["from"], "2024-02-28");
    assert_eq!(b["to"], "2024-03-02");
    let days = b["days"].as_array().unwrap();
    let names: Vec<&str> = days.iter().map(|d| d["day"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["2024-02-28", "2024-02-29", "2024-03-01", "2024-03-02"]
    );
    assert_eq!(days[0]["grossRevenue"]["EUR"], 3000);
    assert_eq!(days[1]["ordersPlaced"], 0);
    assert_eq!(days[1]["grossRevenue"], serde_json::json!({}));
    assert_eq!(days[2]["canceledRevenue"]["EUR"], 1000);
    assert_eq!(days[2]["shipments"], 1);
    assert_eq!(days[0]["discountedOrders"], 1);
    assert_eq!(days[0]["discountsGiven"], json!({"EUR": 1149}));
    assert_eq!(days[1]["discountedOrders"], 0);
    assert_eq!(days[1]["discountsGiven"], json!({}));
    assert_eq!(days[2]["discountsGiven"], json!({"EUR": 100, "USD": 35}));
    assert_eq!(app.store.asked().len(), 1);
}

#[tokio::test]
async fn summary_totals_and_rates() {
    let app = app(store());
    let resp = app
        .handle(get("/analytics/summary?to=2024-03-31&from=2024-02-01"))
        .await;
    assert_eq!(resp.status(), 200);
    let b = body(&resp);
    assert_eq!(b["ordersPlaced"], 4);
    assert_eq!(b["ordersCanceled"], 1);
    assert_eq!(b["shipments"], 1);
    assert_eq!(b["signUps"], 2);
    assert_eq!(b["membershipCancellations"], 1);
    assert_eq!(
        b["grossRevenue"],
        serde_json::json!({"EUR": 3000, "USD": 700})
    );
    assert_eq!(b["canceledRevenue"], serde_json::json!({"EUR": 1000}));
    assert_eq!(
        b["netRevenue"],
        serde_json::json!({"EUR": 2000, "USD": 700})
    );
    assert_eq!(b["cancellationRate"], 0.25);
    assert_eq!(b["churnRate"], 0.5);
    assert_eq!(b["discountedOrders"], 3);
    // Per currency in minor units, like revenue; net revenue does not net them.
    assert_eq!(b["discountsGiven"], json!({"EUR": 1249, "USD": 35}));
    assert!(b.get("days").is_none());
}

#[tokio::test]
async fn bad_query_parameters_are_a_400_naming_each() {
    let app = app(store());
    for (query, fields) in [
        ("", vec!["from", "to"]),
        ("?from=2024-02-30&to=2024-13-01", vec!["from", "to"]),
        ("?from=2024-03-02&to=2024-03-01", vec!["from"]),
        ("?from=2023-01-01&to=2024-01-02", vec!["to"]),
        (
            "?from=2024-01-01&from=2024-01-02&to=2024-01-03",
            vec!["from"],
        ),
        ("?from=2024-01-01", vec!["to"]),
        ("?from=2024%2F01%2F01&to=2024-01-01", vec!["from"]),
    ] {
        for route in ["/analytics/daily", "/analytics/summary"] {
            let resp = app.handle(get(&format!("{route}{query}"))).await;
            assert_eq!(resp.status(), 400, "{route}{query}");
            assert_eq!(content_type(&resp), "application/problem+json");
            let b = body(&resp);
            let got: Vec<&str> = b["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["field"].as_str().unwrap())
                .collect();
            assert_eq!(got, fields, "{route}{query}");
        }
    }
    assert!(app.store.asked().is_empty());
}

#[tokio::test]
async fn percent_encoded_dates_and_extra_parameters_are_accepted() {
    let app = app(store());
    let resp = app
        .handle(get(
            "/analytics/daily?from=2024%2D02%2D28&to=2024-02-28&t=123",
        ))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(body(&resp)["days"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_routes_are_404_and_other_methods_405() {
    let app = app(store());
    for path in [
        "/",
        "/analytics",
        "/analytics/weekly",
        "/dashboard/x",
        "/orders",
    ] {
        let resp = app.handle(get(path)).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(content_type(&resp), "application/problem+json");
        assert_eq!(body(&resp)["detail"], format!("no route for {path}"));
    }
    for path in ["/analytics/daily", "/analytics/summary", "/dashboard"] {
        for method in ["POST", "PUT", "DELETE"] {
            let resp = app.handle(req(method, path)).await;
            assert_eq!(resp.status(), 405, "{method} {path}");
            assert_eq!(resp.headers()["allow"], "GET");
        }
    }
}

#[tokio::test]
async fn store_failures_are_503_and_malformed_data_500() {
    for (failure, retryable) in [
        (
            (|| StoreError::Unavailable("down".into())) as fn() -> StoreError,
            true,
        ),
        (|| StoreError::Refused("down: no such table".into()), false),
    ] {
        assert_eq!(failure().is_retryable(), retryable);
        let app = app(FailingStore(failure));
        let resp = app
            .handle(get("/analytics/summary?from=2024-01-01&to=2024-01-02"))
            .await;
        assert_eq!(resp.status(), 503);
        assert_eq!(content_type(&resp), "application/problem+json");
        assert!(!body(&resp)["detail"].as_str().unwrap().contains("down"));
    }

    let app = app(FailingStore(|| StoreError::Malformed {
        day: "2024-01-01".into(),
        attribute: "ordersPlaced".into(),
        reason: "-1".into(),
    }));
    assert!(!(app.store.0)().is_retryable());
    let resp = app
        .handle(get("/analytics/daily?from=2024-01-01&to=2024-01-02"))
        .await;
    assert_eq!(resp.status(), 500);
}

#[tokio::test]
async fn the_analytics_routes_answer_analysts_only() {
    let app = app(store());
    let customer = customer_claims(ANALYST, "alice@example.com");
    let warehouse = staff_claims(ANALYST, "bob@example.com", &["warehouse"]);
    let both = staff_claims(ANALYST, "carol@example.com", &["warehouse", "analysts"]);
    let bad_sub = staff_claims("not a customer id", "dan@example.com", &["analysts"]);
    for route in ["/analytics/daily", "/analytics/summary"] {
        let path = format!("{route}?from=2024-02-28&to=2024-03-01");
        let asked = app.store.asked().len();
        for (who, request, status, kind) in [
            ("no claims", req("GET", &path), 401, "unauthenticated"),
            (
                "a sub that is no id",
                signed_in(req("GET", &path), &bad_sub),
                401,
                "unauthenticated",
            ),
            (
                "a customer",
                signed_in(req("GET", &path), &customer),
                403,
                "forbidden",
            ),
            (
                "warehouse staff",
                signed_in(req("GET", &path), &warehouse),
                403,
                "forbidden",
            ),
        ] {
            let resp = app.handle(request).await;
            assert_eq!(resp.status(), status, "{who} on {route}");
            assert_eq!(content_type(&resp), "application/problem+json");
            let b = body(&resp);
            assert_eq!(b["type"], format!("urn:eventmart:problem:{kind}"), "{who}");
            assert_eq!(b["status"], status);
            assert!(b.get("days").is_none() && b.get("ordersPlaced").is_none());
            let www = resp.headers().get("www-authenticate");
            assert_eq!(www.is_some(), status == 401, "{who}: WWW-Authenticate");
            if status == 403 {
                assert_eq!(b["detail"], "this needs the analysts role");
            }
        }
        assert_eq!(
            app.store.asked().len(),
            asked,
            "refused: the store is not read"
        );

        for claims in [
            staff_claims(ANALYST, "analyst@example.com", &["analysts"]),
            both.clone(),
        ] {
            let resp = app.handle(signed_in(req("GET", &path), &claims)).await;
            assert_eq!(resp.status(), 200, "{route}");
            assert_eq!(content_type(&resp), "application/json");
        }
        assert_eq!(app.store.asked().len(), asked + 2);
    }
}

#[tokio::test]
async fn who_the_caller_is_comes_before_the_query() {
    let app = app(store());
    for route in ["/analytics/daily", "/analytics/summary"] {
        let anonymous = app.handle(req("GET", &format!("{route}?from=x"))).await;
        assert_eq!(anonymous.status(), 401, "{route}");
        let customer = signed_in(
            req("GET", route),
            &customer_claims(ANALYST, "alice@example.com"),
        );
        assert_eq!(app.handle(customer).await.status(), 403, "{route}");
        assert_eq!(app.handle(get(route)).await.status(), 400, "{route}");
    }
    assert!(app.store.asked().is_empty());
}

#[tokio::test]
async fn the_dashboard_is_public() {
    let app = app(store());
    for (who, request) in [
        ("no claims", req("GET", "/dashboard")),
        (
            "a customer",
            signed_in(
                req("GET", "/dashboard"),
                &customer_claims(ANALYST, "alice@example.com"),
            ),
        ),
        ("an analyst", get("/dashboard")),
    ] {
        let resp = app.handle(request).await;
        assert_eq!(resp.status(), 200, "{who}");
        assert_eq!(content_type(&resp), "text/html; charset=utf-8");
    }
    assert!(app.store.asked().is_empty(), "the page reads no data");
}

#[tokio::test]
async fn the_dashboard_is_one_offline_page() {
    let app = app(store());
    let resp = app.handle(req("GET", "/dashboard")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "text/html; charset=utf-8");
    let page = html(&resp);
    assert!(page.starts_with("<!doctype html>"));
    for id in [
        "from",
        "to",
        "orders-placed-total",
        "orders-canceled-total",
        "shipments-total",
        "sign-ups-total",
        "membership-cancellations-total",
        "cancellation-rate",
        "churn-rate",
        "discounted-orders-total",
        "discounts-given",
        "revenue-table",
        "daily-table",
        "chart-counts",
        "chart-revenue",
        "config",
        "sign-in-form",
        "email",
        "password",
        "sign-in-button",
        "sign-out",
        "error",
    ] {
        assert!(page.contains(&format!("id=\"{id}\"")), "missing #{id}");
    }
    assert!(page.contains("\"analytics/daily\"") && page.contains("\"analytics/summary\""));
    // The discounts tile writes one #discounts-<CUR> per currency of the summary.
    assert!(page.contains("id=\"discounts-${esc(c)}\""));
    // The one URL in the page is the configured Cognito endpoint, as data in the config
    // block; the page's own markup and code name no host and load nothing.
    let config = config_text(page);
    assert!(config.contains(ENDPOINT));
    let rest = page.replacen(config, "", 1).to_ascii_lowercase();
    for external in [
        "http://", "https://", "//cdn", "<link", "src=", "@import", "url(",
    ] {
        assert!(!rest.contains(external), "the page references {external}");
    }
    assert!(!DASHBOARD_HTML.to_ascii_lowercase().contains("https://"));
}

#[tokio::test]
async fn the_page_keeps_no_token_in_browser_storage() {
    let page = app(store()).handle(req("GET", "/dashboard")).await;
    for text in [html(&page), DASHBOARD_HTML] {
        for api in [
            "localStorage",
            "sessionStorage",
            "document.cookie",
            "indexedDB",
        ] {
            assert!(!text.contains(api), "the page uses {api}");
        }
    }
}

#[test]
fn the_config_block_holds_the_settings_html_safely() {
    let hostile = r#"</script><script>alert("x")</script><!-- 'a' & "b" "#;
    let endpoint = format!("https://cognito.example/{}", hostile.replace(' ', ""));
    let sign_in = SignIn::new(&endpoint, hostile, &format!("client{hostile}")).unwrap();
    let app = App::new(store(), &sign_in);
    let page = app.dashboard.html().to_owned();
    assert_eq!(DASHBOARD_HTML.matches(CONFIG_PLACEHOLDER).count(), 1);
    assert!(!page.contains(CONFIG_PLACEHOLDER));
    // No configured value adds an element or ends the block early.
    assert_eq!(
        page.matches("</script").count(),
        DASHBOARD_HTML.matches("</script").count()
    );
    assert_eq!(
        page.matches("<script").count(),
        DASHBOARD_HTML.matches("<script").count()
    );
    assert_eq!(
        page.matches("<!--").count(),
        DASHBOARD_HTML.matches("<!--").count()
    );
    let text = config_text(&page);
    assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
    let config: Value = serde_json::from_str(text).expect("JSON.parse reads the block");
    assert_eq!(config["cognitoEndpoint"], format!("{endpoint}/"));
    assert_eq!(config["userPoolId"], hostile);
    assert_eq!(config["userPoolClientId"], format!("client{hostile}"));
}

#[test]
fn the_config_block_carries_the_minor_digits_table() {
    let page = app(store()).dashboard.html().to_owned();
    let config: Value = serde_json::from_str(config_text(&page)).unwrap();
    assert_eq!(
        config,
        json!({
            "cognitoEndpoint": ENDPOINT,
            "userPoolId": "us-east-1_example",
            "userPoolClientId": "exampleclient",
            "minorDigits": MINOR_DIGITS.iter().map(|(c, d)| (c.to_string(), json!(d)))
                .collect::<serde_json::Map<_, _>>(),
            "defaultMinorDigits": 2,
        })
    );
    assert_eq!(config["minorDigits"]["JPY"], 0);
    assert_eq!(config["minorDigits"]["KWD"], 3);
    assert!(config["minorDigits"].get("EUR").is_none());
}

#[tokio::test]
async fn the_page_may_talk_to_its_api_and_cognito_only() {
    let resp = app(store()).handle(req("GET", "/dashboard")).await;
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        csp.contains("connect-src 'self' https://cognito-idp.us-east-1.amazonaws.com;"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("form-action 'none'"), "{csp}");

    let local = SignIn::new("http://127.0.0.1:4566", "pool", "client").unwrap();
    assert_eq!(local.cognito_endpoint(), "http://127.0.0.1:4566/");
    let resp = App::new(store(), &local)
        .handle(req("GET", "/dashboard"))
        .await;
    let csp = resp.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("connect-src 'self' http://127.0.0.1:4566;"),
        "{csp}"
    );
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn settings(env: &HashMap<String, String>) -> Result<Settings, String> {
    Settings::from_lookup(|name| env.get(name).cloned()).map_err(|e| e.to_string())
}

#[test]
fn settings_need_every_variable() {
    let all = vars(&[
        (ANALYTICS_DAILY_TABLE, "daily"),
        (COGNITO_ENDPOINT, ENDPOINT),
        (USER_POOL_ID, "us-east-1_example"),
        (USER_POOL_CLIENT_ID, "exampleclient"),
    ]);
    let s = settings(&all).unwrap();
    assert_eq!(s.daily_table, "daily");
    assert_eq!(s.sign_in, sign_in());
    for name in [
        ANALYTICS_DAILY_TABLE,
        COGNITO_ENDPOINT,
        USER_POOL_ID,
        USER_POOL_CLIENT_ID,
    ] {
        let mut missing = all.clone();
        missing.remove(name);
        assert_eq!(
            settings(&missing).unwrap_err(),
            format!("configuration: environment variable {name} is not set")
        );
    }
    for name in [COGNITO_ENDPOINT, USER_POOL_ID, USER_POOL_CLIENT_ID] {
        let mut empty = all.clone();
        empty.insert(name.to_owned(), " ".to_owned());
        assert_eq!(
            settings(&empty).unwrap_err(),
            format!("configuration: environment variable {name} is empty")
        );
    }
    assert_eq!(
        (COGNITO_ENDPOINT, USER_POOL_ID, USER_POOL_CLIENT_ID),
        ("COGNITO_ENDPOINT", "USER_POOL_ID", "USER_POOL_CLIENT_ID")
    );
}

#[test]
fn the_cognito_endpoint_is_an_http_url() {
    for bad in [
        "cognito-idp.us-east-1.amazonaws.com",
        "ftp://cognito.example/",
        "https://",
        "https:///path",
        "https://cognito example/",
        "https://cognito.example/\n",
    ] {
        let err = SignIn::new(bad, "pool", "client").unwrap_err().to_string();
        assert!(err.contains("COGNITO_ENDPOINT"), "{bad:?}: {err}");
    }
    let ok = SignIn::new(ENDPOINT, "pool", "client").unwrap();
    assert_eq!(ok.cognito_endpoint(), ENDPOINT);
}
