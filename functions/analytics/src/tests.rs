//! The handler with in-memory stores.

use crate::app::App;
use crate::domain::{self, Counters, DateRange, Day};
use crate::memory::MemoryDailyStore;
use crate::ports::{DailyStore, StoreError};
use lambda_http::{Body, Request, Response};
use retryable::Retryable;
use serde_json::Value;

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

fn get(path: &str) -> Request {
    req("GET", path)
}

fn req(method: &str, path: &str) -> Request {
    lambda_http::http::Request::builder()
        .method(method)
        .uri(format!("https://api.example.com{path}"))
        .body(Body::Empty)
        .unwrap()
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
            c.sign_ups = 2;
        }),
        day("2024-03-01", |c| {
            c.orders_placed = 2;
            c.orders_canceled = 1;
            c.canceled_revenue = [("EUR".parse().unwrap(), 1000)].into();
            c.gross_revenue = [("USD".parse().unwrap(), 700)].into();
            c.membership_cancellations = 1;
            c.shipments = 1;
        }),
    ])
}

#[tokio::test]
async fn daily_has_a_row_for_every_day() {
    let app = App::new(store());
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
    assert_eq!(app.store.asked().len(), 1);
}

#[tokio::test]
async fn summary_totals_and_rates() {
    let app = App::new(store());
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
    assert!(b.get("days").is_none());
}

#[tokio::test]
async fn bad_query_parameters_are_a_400_naming_each() {
    let app = App::new(store());
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
    let app = App::new(store());
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
    let app = App::new(store());
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
        let app = App::new(FailingStore(failure));
        let resp = app
            .handle(get("/analytics/summary?from=2024-01-01&to=2024-01-02"))
            .await;
        assert_eq!(resp.status(), 503);
        assert_eq!(content_type(&resp), "application/problem+json");
        assert!(!body(&resp)["detail"].as_str().unwrap().contains("down"));
    }

    let app = App::new(FailingStore(|| StoreError::Malformed {
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
async fn the_dashboard_is_one_offline_page() {
    let app = App::new(store());
    let resp = app.handle(get("/dashboard")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(content_type(&resp), "text/html; charset=utf-8");
    let html = std::str::from_utf8(resp.body().as_ref()).unwrap();
    assert!(html.starts_with("<!doctype html>"));
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
        "revenue-table",
        "daily-table",
        "chart-counts",
        "chart-revenue",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "missing #{id}");
    }
    assert!(html.contains("\"analytics/daily\"") && html.contains("\"analytics/summary\""));
    let lower = html.to_ascii_lowercase();
    for external in [
        "http://", "https://", "//cdn", "<link", "src=", "@import", "url(",
    ] {
        assert!(!lower.contains(external), "the page references {external}");
    }
}
