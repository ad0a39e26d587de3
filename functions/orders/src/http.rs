//! The HTTP API: `POST /orders`, `GET /orders/{orderId}`, `POST /orders/{orderId}/cancel`.
//!
//! Every route is the signed-in caller's ([`eventmart_shared::auth::caller`], from the JWT
//! authorizer's claims): an order is placed for the token's `sub` to its verified email,
//! and an order is read or canceled by its own customer only; to anyone else it is an
//! unknown id.

use crate::app::App;
use crate::domain::{NewOrder, Order, OrderStatus, TotalOverflow, sum_lines};
use crate::members;
use crate::ports::{MemberView, OrderRepository};
use chrono::Utc;
use dynamodb_idempotency::Store;
use eventmart_shared::auth::{self, Caller};
use eventmart_shared::consumer::DeadLetters;
use eventmart_shared::events::{
    CorrelationId, Currency, CustomerId, Email, MinorUnits, OrderId, OrderPlaced, Quantity, Reason,
    Sku,
};
use eventmart_shared::http::{self, Fields, Problem, RouteSpec, StoredResponse};
use eventmart_shared::producer::{
    Outcome, Rejected, Resource, commit, parse_cancel, refuse_caller_fields,
};
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
    R: OrderRepository<Write = S::Write> + MemberView<Write = S::Write>,
    S: Store + Clone,
    D: DeadLetters,
{
    /// Answers one HTTP API request. Never fails: every outcome is a response.
    ///
    /// After routing, who the caller is comes first (401 without claims, whatever the
    /// gateway in front is configured to do), before any header, body or id is read.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let matched = match http::route(&req, ROUTES) {
            Ok(matched) => matched,
            Err(refused) => return refused,
        };
        let caller = match auth::caller(&req) {
            Ok(caller) => caller,
            Err(refused) => return refused.into_response(),
        };
        match matched.route {
            Route::Place => match caller.verified_email() {
                Ok(email) => ORDER.respond(self.place(&req, &caller, email).await),
                Err(refused) => refused.into_response(),
            },
            Route::Get => match ORDER.id(&matched) {
                Ok(id) => self.get(caller.customer_id(), id).await,
                Err(unknown) => unknown.into_response(),
            },
            Route::Cancel => {
                let answer = async { self.cancel(&req, &caller, ORDER.id(&matched)?).await };
                ORDER.respond(answer.await)
            }
        }
    }

    /// An order of the caller, to their verified email.
    async fn place(
        &self,
        req: &Request,
        caller: &Caller,
        email: &Email,
    ) -> Result<StoredResponse, Problem> {
        let key = http::idempotency_key(req)?;
        let body = http::json_body(req)?;
        let new = parse_place(&body, caller.customer_id(), email)?;
        // The discount of the membership the view holds now: eventually consistent with
        // the memberships service (see the crate doc).
        let entries = self
            .repo
            .memberships(caller.customer_id())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "could not read the member view");
                Problem::unavailable("the customer's membership could not be read; retry later")
            })?;
        let now = Utc::now();
        let order = Order::place(new, members::discount(&entries), now);
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
            let customer = caller.customer_id();
            // A new order's id is fresh: no condition of ours can fail, only the store.
            let stored = commit(&self.http, customer, key, "POST /orders", &body, attempt)
                .await?
                .map_err(|e| ORDER.write_failed(&e))?;
            tracing::info!(orderId = %order.order_id, status = stored.status, "order placed");
            Ok(stored)
        }
        .instrument(span)
        .await
    }

    /// The caller's order; another customer's is answered as an unknown one.
    async fn get(&self, customer: &CustomerId, id: OrderId) -> Response<Body> {
        match self.read_visible(customer, id).await {
            Ok(Some(order)) => http::json(StatusCode::OK, &order),
            Ok(None) => ORDER.not_found(id).into_response(),
            Err(problem) => problem.into_response(),
        }
    }

    async fn cancel(
        &self,
        req: &Request,
        caller: &Caller,
        id: OrderId,
    ) -> Result<StoredResponse, Problem> {
        let key = http::idempotency_key(req)?;
        let body = http::json_body(req)?;
        let reason = parse_cancel(&body)?;
        let correlation = http::correlation_id(req);
        let customer = caller.customer_id();
        let route = format!("POST /orders/{id}/cancel");
        let attempt = || self.cancel_writes(customer, id, reason, correlation);
        match commit(&self.http, customer, key, &route, &body, attempt).await? {
            Ok(stored) => Ok(stored),
            // Another request changed the order between our read and our write.
            Err(e) if !e.conditions_failed.is_empty() => {
                Err(self.after_lost_race(customer, id).await)
            }
            Err(e) => Err(ORDER.write_failed(&e)),
        }
    }

    /// The response and writes of a cancel, from the order as it is now. A refusal (409)
    /// is an answer like any other, so that a retried request replays the first answer
    /// rather than a refusal caused by its own success. An order the caller cannot see
    /// (none, or another customer's) is rejected, not answered: it writes nothing, no
    /// idempotency record either, so that the two cannot be told apart by what a second
    /// request with the same key gets. A failed read says nothing about the request and
    /// is rejected too.
    async fn cancel_writes(
        &self,
        customer: &CustomerId,
        id: OrderId,
        reason: Reason,
        correlation: CorrelationId,
    ) -> Result<Outcome<S::Write>, Rejected> {
        let Some(order) = self.read_visible(customer, id).await? else {
            return Err(Rejected(ORDER.not_found(id)));
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
    async fn after_lost_race(&self, customer: &CustomerId, id: OrderId) -> Problem {
        match self.read_visible(customer, id).await {
            Ok(Some(order)) if order.status != OrderStatus::Placed => Problem::conflict(format!(
                "the order is {} and can no longer be canceled",
                order.status.as_str()
            )),
            Ok(None) => ORDER.not_found(id),
            Ok(Some(_)) => Problem::unavailable("the order changed during the request; retry"),
            Err(p) => p,
        }
    }

    /// The order, if it exists and `customer` may see it ([`Order::visible_to`]).
    async fn read_visible(
        &self,
        customer: &CustomerId,
        id: OrderId,
    ) -> Result<Option<Order>, Problem> {
        let order = self.repo.get(id).await.map_err(|e| ORDER.read_failed(&e))?;
        Ok(order.filter(|o| o.visible_to(customer)))
    }
}

/// `POST /orders` of `customer`, to `email`: every invalid field named at once. The
/// customer is the caller, never the body (`customerId`, `email` are refused).
fn parse_place(body: &Value, customer: &CustomerId, email: &Email) -> Result<NewOrder, Problem> {
    let mut f = Fields::new(body);
    refuse_caller_fields(&mut f);
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
    let order = match (currency, lines) {
        (Some(currency), Some(lines)) => {
            NewOrder::new(customer.clone(), email.clone(), currency, lines).ok()
        }
        _ => None,
    };
    f.finish()?;
    order.ok_or_else(|| Problem::invalid(vec![]))
}
