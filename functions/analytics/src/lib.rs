//! The analytics function: `GET /analytics/daily` and `GET /analytics/summary` over the
//! per-day aggregates that ingestion keeps, and `GET /dashboard`, a self-contained page
//! that plots them.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /analytics/daily?from=YYYY-MM-DD&to=YYYY-MM-DD` | one row per day of the range, days with no item as zeros |
//! | `GET /analytics/summary?from=…&to=…` | the range's totals, net revenue per currency, cancellation and churn rates |
//! | `GET /dashboard` | one HTML page (inline CSS, JS and SVG) that signs an analyst in and reads the two routes above |
//!
//! Each row, and the summary, carries the counters (`ordersPlaced`, `ordersCanceled`,
//! `shipments`, `signUps`, `membershipCancellations`, `discountedOrders`) and, per
//! currency in minor units, `grossRevenue` (what the orders placed paid, after member
//! discounts), `canceledRevenue` (what the cancels refunded, as paid) and
//! `discountsGiven` (the member discounts on the orders placed). Discounts are counted
//! when given, like gross revenue: a cancel does not take its order's discount back, and
//! `netRevenue` (gross − canceled) leaves discounts out. A day stored before discounts
//! were counted reads as none given.
//!
//! The `/analytics` routes need an id token of the `analysts` Cognito group, verified by
//! API Gateway's JWT authorizer; the function checks the claims again (`http`). The
//! dashboard route is public: the page holds no data, only its code and the sign-in
//! settings (`dashboard`). It signs in against Cognito's API from the browser
//! (`USER_PASSWORD_AUTH`), keeps the id token in memory only, and sends it as
//! `Authorization: Bearer`.
//!
//! Configuration: `ANALYTICS_DAILY_TABLE`, and for the page `COGNITO_ENDPOINT`,
//! `USER_POOL_ID`, `USER_POOL_CLIENT_ID`; the function does not start without each.
//!
//! The aggregates are AnalyticsDailyTable's items (partition `series = "daily"`, sort key
//! `day`), read with one paginated `Query` per request; the function only reads.
//!
//! # Guarantees
//!
//! * A range is both ends included, at most [`MAX_DAYS`] days; bad, missing or repeated
//!   `from`/`to` parameters are one 400 naming each (the store is not read).
//! * The answer is what the table holds when it is read (an eventually consistent
//!   `Query`: an event ingested a moment ago may show a moment later). Ingestion adds an
//!   event's increments to its day in one write, so an event is counted wholly or not
//!   at all.
//! * Unknown paths are 404 and other methods 405 with `Allow: GET`, by the one routing
//!   policy of every function. Then, on `/analytics`: no verified token is a 401, a
//!   caller outside `analysts` a 403 (both `application/problem+json`, the store not
//!   read); range errors are only reported to analysts.
//! * A store that cannot be read is a 503 (retrying may help, nothing is cached); an
//!   item that breaks the layout is a 500 naming no data; neither leaks the store's
//!   message, which is logged.
//!
//! # Failure windows
//!
//! * None of its own: the function writes nothing. The numbers lag the events by
//!   ingestion's delay (the bus, Lambda's asynchronous invocation and its retries).

pub mod app;
pub mod dashboard;
pub mod domain;
pub mod dynamo;
pub mod http;
#[cfg(any(test, feature = "memory"))]
pub mod memory;
pub mod ports;

pub use app::{
    ANALYTICS_DAILY_TABLE, App, COGNITO_ENDPOINT, Deployed, Settings, USER_POOL_CLIENT_ID,
    USER_POOL_ID, build, from_env,
};
pub use dashboard::{DASHBOARD_HTML, Dashboard, SignIn};
pub use domain::{Counters, Daily, DateRange, Day, MAX_DAYS, Summary};
pub use dynamo::DynamoDailyStore;
#[cfg(any(test, feature = "memory"))]
pub use memory::MemoryDailyStore;
pub use ports::{DailyStore, StoreError};

#[cfg(test)]
mod tests;
