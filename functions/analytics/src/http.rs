//! The HTTP API: `GET /analytics/daily`, `GET /analytics/summary` and `GET /dashboard`.
//!
//! The two `/analytics` routes answer callers in the `analysts` group only, checked here
//! from the JWT authorizer's claims: no claims is a 401, another caller (a customer,
//! warehouse staff) a 403, both before the query is read. The function does not rely on
//! the gateway alone: a route left without the authorizer in the template stays closed.
//! `GET /dashboard` is public: the page shell holds no data (see [`crate::dashboard`]).

use crate::app::App;
use crate::domain::{Daily, DateRange, Summary};
use crate::ports::{DailyStore, StoreError};
use eventmart_shared::auth::{self, AuthError, Caller, Role};
use eventmart_shared::http::{self, FieldError, Problem, RouteSpec, route};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

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
        match matched.route {
            // Public: the shell and its sign-in config, no data.
            Route::Dashboard => self.dashboard.response(),
            Route::Daily => {
                self.for_analyst(&req, |d| http::json(StatusCode::OK, &d))
                    .await
            }
            Route::Summary => {
                self.for_analyst(&req, |d| http::json(StatusCode::OK, &Summary::of(&d)))
                    .await
            }
        }
    }

    /// `answer` over the requested range, if the caller is an analyst.
    async fn for_analyst(
        &self,
        req: &Request,
        answer: impl FnOnce(Daily) -> Response<Body>,
    ) -> Response<Body> {
        let caller = match analyst(req) {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(path = %req.uri().path(), status = e.status().as_u16(), reason = %e, "analytics request refused");
                return e.into_response();
            }
        };
        self.daily(req, &caller)
            .await
            .map(answer)
            .unwrap_or_else(Problem::into_response)
    }

    async fn daily(&self, req: &Request, caller: &Caller) -> Result<Daily, Problem> {
        let range = range_of(req)?;
        let stored = self.store.days(range).await.map_err(|e| {
            tracing::error!(error = %e, from = %range.from(), to = %range.to(), "reading the daily aggregates failed");
            store_problem(&e)
        })?;
        tracing::info!(from = %range.from(), to = %range.to(), storedDays = stored.len(), caller = %caller.customer_id(), "analytics range read");
        Ok(Daily::fill(range, stored))
    }
}

/// The caller of an `/analytics` route: signed in (401 otherwise) and an analyst (403).
fn analyst(req: &Request) -> Result<Caller, AuthError> {
    let caller = auth::caller(req)?;
    caller.require(Role::Analysts)?;
    Ok(caller)
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
