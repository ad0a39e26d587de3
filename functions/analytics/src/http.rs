//! The HTTP API: `GET /analytics/daily`, `GET /analytics/summary` and `GET /dashboard`.

use crate::app::App;
use crate::domain::{Daily, DateRange, Summary};
use crate::ports::{DailyStore, StoreError};
use eventmart_shared::http::{self, FieldError, Problem, RouteSpec, route};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

/// The dashboard page: inline CSS, JS and SVG, nothing fetched but the API itself.
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Daily,
    Summary,
    Dashboard,
}

/// The routes of template.yaml's AnalyticsFunction.
const ROUTES: &[RouteSpec<Route>] = &[
    (Method::GET, "/analytics/daily", Route::Daily),
    (Method::GET, "/analytics/summary", Route::Summary),
    (Method::GET, "/dashboard", Route::Dashboard),
];

impl<S: DailyStore> App<S> {
    /// Answers one request; every failure is a problem response, never a panic.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let matched = match route(&req, ROUTES) {
            Ok(m) => m,
            Err(resp) => return resp,
        };
        let result = match matched.route {
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
            store_problem(&e)
        })?;
        tracing::info!(from = %range.from(), to = %range.to(), storedDays = stored.len(), "analytics range read");
        Ok(Daily::fill(range, stored))
    }
}

/// A store that cannot answer is our outage, whether or not a retry of the same call
/// can succeed; bytes that break the layout are a fault no retry fixes.
fn store_problem(e: &StoreError) -> Problem {
    match e {
        StoreError::Unavailable(_) | StoreError::Refused(_) => {
            Problem::unavailable("the analytics store is unavailable; retry shortly")
        }
        StoreError::Malformed { .. } => Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "stored analytics data is malformed; retrying will not help",
        ),
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
            errors.push(FieldError {
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
