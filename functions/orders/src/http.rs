//! The HTTP API: `POST /orders`, `GET /orders/{orderId}`, `POST /orders/{orderId}/cancel`.

use crate::app::App;
use crate::domain::{NewOrder, Order, OrderStatus, TotalOverflow, sum_lines};
use crate::ports::OrderRepository;
use chrono::Utc;
use dynamodb_idempotency::Store;
use eventmart_shared::consumer::DeadLetters;
use eventmart_shared::events::{
    CorrelationId, Currency, CustomerId, Email, MinorUnits, OrderId, OrderPlaced, Quantity, Reason,
    Sku,
};
use eventmart_shared::http::{self, Fields, Problem, RouteSpec, StoredResponse};
use eventmart_shared::producer::{Outcome, Rejected, Resource, commit, parse_cancel};
use eventmart_shared::telemetry::event_span;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use tracing::Instrument;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Place,
    Get,
    Cancel,
}

/// The routes, as template.yaml declares them.
const ROUTES: &[RouteSpec<Route>] = &[
    (Method::POST, "/orders", Route::Place),
    (Method::GET, "/orders/{orderId}", Route::Get),
    (Method::POST, "/orders/{orderId}/cancel", Route::Cancel),
];

/// What the API serves, as its answers name it.
const ORDER: Resource = Resource {
    name: "order",
    collection: "/orders",
    id_field: "orderId",
};

impl<R, S, D> App<R, S, D>
where
    R: OrderRepository<Write = S::Write>,
    S: Store + Clone,
    D: DeadLetters,
{
    /// Answers one HTTP API request. Never fails: every outcome is a response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let matched = match http::route(&req, ROUTES) {
            Ok(matched) => matched,
            Err(refused) => return refused,
        };
        match matched.route {
            Route::Place => ORDER.respond(self.place(&req).await),
            Route::Get => match ORDER.id(&matched) {
                Ok(id) => self.get(id).await,
                Err(unknown) => unknown.into_response(),
            },
            Route::Cancel => {
                let answer = async { self.cancel(&req, ORDER.id(&matched)?).await };
                ORDER.respond(answer.await)
            }
        }
    }

    async fn place(&self, req: &Request) -> Result<StoredResponse, Problem> {
        let key = http::idempotency_key(req)?;
        let body = http::json_body(req)?;
        let new = parse_place(&body)?;
        let now = Utc::now();
        let order = Order::place(new, now);
        let event = order.placed_event(http::correlation_id(req), now);
        let writes = vec![
            self.repo.insert(&order),
            self.repo.outbox(&event, now.timestamp()),
        ];
        let created = StoredResponse::new(StatusCode::CREATED, &order);
        let meta = event.metadata();
        let span = event_span(&meta.event_id, &meta.correlation_id);
        async {
            let attempt = || async { Ok((created, writes)) };
            // A new order's id is fresh: no condition of ours can fail, only the store.
            let stored = commit(&self.http, key, "POST /orders", &body, attempt)
                .await?
                .map_err(|e| ORDER.write_failed(&e))?;
            tracing::info!(orderId = %order.order_id, status = stored.status, "order placed");
            Ok(stored)
        }
        .instrument(span)
        .await
    }

    async fn get(&self, id: OrderId) -> Response<Body> {
        match self.read(id).await {
            Ok(Some(order)) => http::json(StatusCode::OK, &order),
            Ok(None) => ORDER.not_found(id).into_response(),
            Err(problem) => problem.into_response(),
        }
    }

    async fn cancel(&self, req: &Request, id: OrderId) -> Result<StoredResponse, Problem> {
        let key = http::idempotency_key(req)?;
        let body = http::json_body(req)?;
        let reason = parse_cancel(&body)?;
        let correlation = http::correlation_id(req);
        let route = format!("POST /orders/{id}/cancel");
        let attempt = || self.cancel_writes(id, reason, correlation);
        match commit(&self.http, key, &route, &body, attempt).await? {
            Ok(stored) => Ok(stored),
            // Another request changed the order between our read and our write.
            Err(e) if !e.conditions_failed.is_empty() => Err(self.after_lost_race(id).await),
            Err(e) => Err(ORDER.write_failed(&e)),
        }
    }

    /// The response and writes of a cancel, from the order as it is now. A refusal (404,
    /// 409) is an answer like any other, so that a retried request replays the first
    /// answer rather than a refusal caused by its own success; only a failed read, which
    /// says nothing about the request, is an error.
    async fn cancel_writes(
        &self,
        id: OrderId,
        reason: Reason,
        correlation: CorrelationId,
    ) -> Result<Outcome<S::Write>, Rejected> {
        let Some(order) = self.read(id).await? else {
            return Ok((StoredResponse::refusal(&ORDER.not_found(id)), vec![]));
        };
        let now = Utc::now();
        let (canceled, event) = match order.cancel(reason, correlation, now) {
            Ok(done) => done,
            Err(refused) => {
                let conflict = Problem::conflict(refused.to_string());
                return Ok((StoredResponse::refusal(&conflict), vec![]));
            }
        };
        let meta = event.metadata();
        event_span(&meta.event_id, &meta.correlation_id).in_scope(|| {
            tracing::info!(orderId = %id, "order canceled");
        });
        let writes = vec![
            self.repo.transition(&canceled, OrderStatus::Placed),
            self.repo.outbox(&event, now.timestamp()),
        ];
        Ok((StoredResponse::new(StatusCode::OK, &canceled), writes))
    }

    /// The answer to a cancel whose condition failed: the order changed meanwhile.
    async fn after_lost_race(&self, id: OrderId) -> Problem {
        match self.read(id).await {
            Ok(Some(order)) if order.status != OrderStatus::Placed => Problem::conflict(format!(
                "the order is {} and can no longer be canceled",
                order.status.as_str()
            )),
            Ok(None) => ORDER.not_found(id),
            Ok(Some(_)) => Problem::unavailable("the order changed during the request; retry"),
            Err(p) => p,
        }
    }

    async fn read(&self, id: OrderId) -> Result<Option<Order>, Problem> {
        self.repo.get(id).await.map_err(|e| ORDER.read_failed(&e))
    }
}

/// `POST /orders`: every invalid field named at once.
fn parse_place(body: &Value) -> Result<NewOrder, Problem> {
    let mut f = Fields::new(body);
    let customer_id = f.required::<CustomerId>("customerId");
    let email = f.required::<Email>("email");
    let currency = f.required::<Currency>("currency");
    let lines = f.array("items", 1, OrderPlaced::MAX_LINES, |line| {
        let sku = line.required::<Sku>("sku");
        let quantity = line.required::<Quantity>("quantity");
        let unit_price = line.required::<MinorUnits>("unitPriceMinor");
        Some((sku?, quantity?, unit_price?))
    });
    // Checked on its own so that an overflow is reported with every other error.
    if let Some(lines) = &lines
        && sum_lines(lines).is_err()
    {
        f.error("items", TotalOverflow.to_string());
    }
    let order = match (customer_id, email, currency, lines) {
        (Some(customer_id), Some(email), Some(currency), Some(lines)) => {
            NewOrder::new(customer_id, email, currency, lines).ok()
        }
        _ => None,
    };
    f.finish()?;
    order.ok_or_else(|| Problem::invalid(vec![]))
}
