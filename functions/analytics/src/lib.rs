//! The analytics function: `GET /analytics/daily` and `GET /analytics/summary` over the
//! per-day aggregates that ingestion keeps, and `GET /dashboard`, a self-contained page
//! that plots them.
//!
//! The handler ([`App`]) is generic over the [`DailyStore`] port; [`domain`] holds the
//! range validation, the filling of missing days, the sums and the rates.

pub mod domain;
pub mod store;

pub use domain::{Counters, Daily, DateRange, Day, MAX_DAYS, Summary};
pub use store::{DailyStore, DynamoDailyStore, StoreError};

use eventmart_shared::aws::ConfigError;
use eventmart_shared::http::{self, Problem};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

/// The dashboard page: inline CSS, JS and SVG, nothing fetched but the API itself.
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// The environment variable naming the daily aggregates table.
pub const ANALYTICS_DAILY_TABLE: &str = "ANALYTICS_DAILY_TABLE";

/// The HTTP handler.
#[derive(Debug, Clone)]
pub struct App<S> {
    store: S,
}

impl App<DynamoDailyStore> {
    /// The function as deployed: the table named by `ANALYTICS_DAILY_TABLE`.
    pub fn from_env(sdk_config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let table = eventmart_shared::aws::env(ANALYTICS_DAILY_TABLE)?;
        Ok(Self::with_table(
            aws_sdk_dynamodb::Client::new(sdk_config),
            table,
        ))
    }

    /// Over an explicit client and table (tests use the tables they create).
    pub fn with_table(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self::new(DynamoDailyStore::new(client, table))
    }
}

enum Route {
    Daily,
    Summary,
    Dashboard,
}

impl<S: DailyStore> App<S> {
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// Answers one request; every failure is a problem response, never a panic.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let segments = http::segments(&req);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let route = match segments.as_slice() {
            ["analytics", "daily"] => Route::Daily,
            ["analytics", "summary"] => Route::Summary,
            ["dashboard"] => Route::Dashboard,
            _ => {
                return Problem::not_found(format!("no route {}", req.uri().path()))
                    .into_response();
            }
        };
        if req.method() != Method::GET {
            return http::method_not_allowed(&[Method::GET]);
        }
        let result = match route {
            Route::Dashboard => {
                return http::with_body(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    DASHBOARD_HTML.to_owned(),
                );
            }
            Route::Daily => self
                .daily(&req)
                .await
                .map(|d| http::json(StatusCode::OK, &d)),
            Route::Summary => self
                .daily(&req)
                .await
                .map(|d| http::json(StatusCode::OK, &Summary::of(&d))),
        };
        result.unwrap_or_else(Problem::into_response)
    }

    async fn daily(&self, req: &Request) -> Result<Daily, Problem> {
        let range = range_of(req)?;
        let stored = self.store.days(range).await.map_err(|e| {
            tracing::error!(error = %e, from = %range.from(), to = %range.to(), "reading the daily aggregates failed");
            match e {
                StoreError::Unavailable(_) => {
                    Problem::unavailable("the analytics store is unavailable; retry shortly")
                }
                StoreError::Malformed { .. } => Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "stored analytics data is malformed; retrying will not help",
                ),
            }
        })?;
        tracing::info!(from = %range.from(), to = %range.to(), storedDays = stored.len(), "analytics range read");
        Ok(Daily::fill(range, stored))
    }
}

/// The range of the `from` and `to` query parameters, or a 400 naming each bad one.
fn range_of(req: &Request) -> Result<DateRange, Problem> {
    let query = req.uri().query().unwrap_or_default();
    let mut from: Vec<String> = vec![];
    let mut to: Vec<String> = vec![];
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "from" => from.push(v.into_owned()),
            "to" => to.push(v.into_owned()),
            // Other parameters (a cache-buster, say) do not change the answer.
            _ => {}
        }
    }
    let mut errors = vec![];
    for (name, values) in [("from", &from), ("to", &to)] {
        if values.len() > 1 {
            errors.push(http::FieldError {
                field: name.into(),
                message: "must be given once".into(),
            });
        }
    }
    if errors.is_empty() {
        let range = DateRange::parse(
            from.first().map(String::as_str),
            to.first().map(String::as_str),
        );
        match range {
            Ok(r) => return Ok(r),
            Err(e) => errors = e,
        }
    }
    let names: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    let mut problem = Problem::new(
        StatusCode::BAD_REQUEST,
        "validation",
        format!("invalid query parameters: {}", names.join(", ")),
    );
    problem.errors = errors;
    Err(problem)
}

#[cfg(test)]
mod tests;
