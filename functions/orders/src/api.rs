//! The HTTP routes.

use crate::domain::{NewOrder, Order, OrderStatus, TotalOverflow, sum_lines};
use crate::ports::OrderRepository;
use crate::{FUNCTION, Orders};
use chrono::Utc;
use dynamodb_idempotency::{IdempotencyError, Store, StoreError};
use eventmart_shared::consumer::DeadLetters;
use eventmart_shared::events::{
    CorrelationId, Currency, CustomerId, Email, MinorUnits, OrderId, OrderPlaced, Quantity, Reason,
    Sku,
};
use eventmart_shared::http::{
    self, Fields, Problem, StoredResponse, idempotency_event, idempotency_problem,
    method_not_allowed,
};
use eventmart_shared::telemetry::event_span;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::Value;
use tracing::Instrument;

impl<R, S, D> Orders<R, S, D>
where
    R: OrderRepository<Write = S::Write>,
    S: Store + Clone,
    D: DeadLetters,
{
    /// Answers one HTTP API request. Never fails: every outcome is a response.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let segments = http::segments(&req);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = req.method().clone();
        match (segments.as_slice(), method) {
            (["orders"], Method::POST) => self.place(&req).await,
            (["orders"], _) => method_not_allowed(&[Method::POST]),
            (["orders", id], Method::GET) => self.get(id).await,
            (["orders", _], _) => method_not_allowed(&[Method::GET]),
            (["orders", id, "cancel"], Method::POST) => self.cancel(&req, id).await,
            (["orders", _, "cancel"], _) => method_not_allowed(&[Method::POST]),
            _ => Problem::not_found(format!("no resource at {}", req.uri().path())).into_response(),
        }
    }

    async fn place(&self, req: &Request) -> Response<Body> {
        let result: Result<StoredResponse, Problem> = async {
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
                let stored = match key {
                    None => self
                        .http
                        .store()
                        .write(writes)
                        .await
                        .map(|_| created)
                        .map_err(|e| unavailable(&e)),
                    Some(key) => self
                        .http
                        .run_transactional(
                            &idempotency_event(&key, "POST /orders", &body),
                            || async { Ok::<_, Rejected>((created, writes)) },
                        )
                        .await
                        .map_err(|e| idempotency_problem(e, |r| r.0)),
                }?;
                tracing::info!(orderId = %order.order_id, status = stored.status, "order placed");
                Ok(stored)
            }
            .instrument(span)
            .await
        }
        .await;
        match result {
            Ok(stored) => crate::api::created(stored),
            Err(problem) => problem.into_response(),
        }
    }

    async fn get(&self, id: &str) -> Response<Body> {
        let Ok(id) = id.parse::<OrderId>() else {
            return not_found(id);
        };
        match self.repo.get(id).await {
            Ok(Some(order)) => http::json(StatusCode::OK, &order),
            Ok(None) => not_found(&id.to_string()),
            Err(e) => {
                tracing::error!(orderId = %id, error = %e, "could not read order");
                Problem::unavailable("the order could not be read; retry later").into_response()
            }
        }
    }

    async fn cancel(&self, req: &Request, id: &str) -> Response<Body> {
        let Ok(id) = id.parse::<OrderId>() else {
            return not_found(id);
        };
        let result: Result<StoredResponse, Problem> = async {
            let key = http::idempotency_key(req)?;
            let body = http::json_body(req)?;
            let reason = parse_cancel(&body)?;
            let correlation = http::correlation_id(req);
            let attempt = || self.cancel_writes(id, reason, correlation);
            let outcome = match key {
                None => {
                    let (stored, writes) = attempt().await.map_err(|r| r.0)?;
                    self.http.store().write(writes).await.map(|_| stored)
                }
                Some(key) => {
                    let event =
                        idempotency_event(&key, &format!("POST /orders/{id}/cancel"), &body);
                    match self.http.run_transactional(&event, attempt).await {
                        Ok(stored) => Ok(stored),
                        Err(IdempotencyError::Store(e)) => Err(e),
                        Err(e) => return Err(idempotency_problem(e, |r| r.0)),
                    }
                }
            };
            match outcome {
                Ok(stored) => Ok(stored),
                // Another request changed the order between our read and our write.
                Err(e) if !e.conditions_failed.is_empty() => Err(self.after_lost_race(id).await),
                Err(e) => Err(unavailable(&e)),
            }
        }
        .await;
        match result {
            Ok(stored) => crate::api::created(stored),
            Err(problem) => problem.into_response(),
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
    ) -> Result<(StoredResponse, Vec<S::Write>), Rejected> {
        let Some(order) = self.read(id).await? else {
            return Ok((StoredResponse::refusal(&order_not_found(id)), vec![]));
        };
        let now = Utc::now();
        let (canceled, event) = match order.cancel(reason, correlation, now) {
            Ok(done) => done,
            Err(refused) => {
                return Ok((
                    StoredResponse::refusal(&Problem::conflict(refused.to_string())),
                    vec![],
                ));
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
            Ok(None) => order_not_found(id),
            Ok(Some(_)) => Problem::unavailable("the order changed during the request; retry"),
            Err(p) => p,
        }
    }

    async fn read(&self, id: OrderId) -> Result<Option<Order>, Problem> {
        self.repo.get(id).await.map_err(|e| {
            tracing::error!(orderId = %id, error = %e, "could not read order");
            Problem::unavailable("the order could not be read; retry later")
        })
    }
}

/// A request that could not be answered (a read failed): its problem is returned, never
/// stored as the idempotent response.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.detail)]
struct Rejected(Problem);

impl From<Problem> for Rejected {
    fn from(p: Problem) -> Self {
        Rejected(p)
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

/// `POST /orders/{orderId}/cancel`.
fn parse_cancel(body: &Value) -> Result<Reason, Problem> {
    let mut f = Fields::new(body);
    let reason = f.required::<Reason>("reason");
    f.finish()?;
    reason.ok_or_else(|| Problem::invalid(vec![]))
}

fn order_not_found(id: OrderId) -> Problem {
    Problem::not_found(format!("order {id} does not exist"))
}

/// A malformed id names no order that could exist: 404, not 400.
fn not_found(id: &str) -> Response<Body> {
    Problem::not_found(format!("order {id} does not exist")).into_response()
}

fn unavailable(e: &StoreError) -> Problem {
    tracing::error!(function = FUNCTION, error = %e, "could not write order");
    Problem::unavailable("the order could not be saved; retry later")
}

/// A response, first or replayed: a 201 carries the new resource's address.
fn created(stored: StoredResponse) -> Response<Body> {
    stored.into_created_response("/orders", "orderId")
}
