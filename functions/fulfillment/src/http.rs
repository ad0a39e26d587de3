//! The warehouse's HTTP routes: read a shipment, mark it shipped. Both are the warehouse's
//! only (the `warehouse` Cognito group, from the JWT authorizer's claims).

use crate::app::App;
use crate::domain::{self, Change, ShipRefused, ShipmentView};
use crate::ports::{Ledger, LedgerError, MAX_ATTEMPTS, is_conflict};
use chrono::Utc;
use dynamodb_idempotency::IdempotencyError;
use eventmart_shared::auth;
use eventmart_shared::consumer::DeadLetters;
use eventmart_shared::events::{CorrelationId, CustomerId, OrderId};
use eventmart_shared::http::{
    Problem, RouteSpec, StoredResponse, idempotency_event, idempotency_key, idempotency_problem,
    json, route,
};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use retryable::Retryable;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Get,
    Ship,
}

/// The routes of template.yaml's FulfillmentFunction.
const ROUTES: &[RouteSpec<Route>] = &[
    (Method::GET, "/fulfillments/{orderId}", Route::Get),
    (Method::POST, "/fulfillments/{orderId}/ship", Route::Ship),
];

/// What a path id that is no order id names: no shipment, as an unknown order.
const WHAT: &str = "shipment for order";

/// Why a ship request failed before its transaction committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ShipError {
    #[error(transparent)]
    Refused(#[from] ShipRefused),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl Retryable for ShipError {
    fn is_retryable(&self) -> bool {
        match self {
            ShipError::Refused(_) => false,
            ShipError::Ledger(e) => e.is_retryable(),
        }
    }
}

impl<L: Ledger, D: DeadLetters> App<L, D> {
    /// An HTTP API request. After routing, who the caller is comes first: no claims is a
    /// 401 (whatever the gateway in front is configured to do), a caller outside the
    /// warehouse a 403 ([`domain::authorize`]), both before the id or any header is read
    /// and with nothing written.
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let matched = match route(&req, ROUTES) {
            Ok(m) => m,
            Err(resp) => return resp,
        };
        let caller = match auth::caller(&req).and_then(|c| domain::authorize(&c).map(|()| c)) {
            Ok(c) => c,
            Err(refused) => {
                tracing::info!(path = %req.uri().path(), status = refused.status().as_u16(), reason = %refused, "warehouse request refused");
                return refused.into_response();
            }
        };
        let order_id: OrderId = match matched.id("orderId", WHAT) {
            Ok(id) => id,
            Err(p) => return p.into_response(),
        };
        match matched.route {
            Route::Get => self.get(order_id).await,
            Route::Ship => self.ship(&req, caller.customer_id(), order_id).await,
        }
    }

    async fn get(&self, order_id: OrderId) -> Response<Body> {
        match self.ledger.shipment(order_id).await {
            Ok(Some(s)) => json(StatusCode::OK, &s.view()),
            Ok(None) => {
                Problem::not_found(format!("no shipment for order {order_id}")).into_response()
            }
            Err(e) => ledger_problem(&e).into_response(),
        }
    }

    async fn ship(&self, req: &Request, caller: &CustomerId, order_id: OrderId) -> Response<Body> {
        let key = match idempotency_key(req) {
            Ok(k) => k,
            Err(p) => return p.into_response(),
        };
        let correlation_id = CorrelationId::new();
        let mut attempt = 1;
        loop {
            let result = match &key {
                Some(key) => self.ship_keyed(caller, key, order_id, correlation_id).await,
                None => self.ship_once(order_id, correlation_id).await,
            };
            match result {
                Ok(stored) => return stored.into_response(),
                Err(IdempotencyError::Store(e)) if is_conflict(&e) && attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return idempotency_problem(e, ship_problem).into_response(),
            }
        }
    }

    /// With an Idempotency-Key: the answer commits with the decision, and a retry with
    /// the same key by the same caller replays it (another caller's same key is a
    /// request of their own).
    async fn ship_keyed(
        &self,
        caller: &CustomerId,
        key: &str,
        order_id: OrderId,
        correlation_id: CorrelationId,
    ) -> Result<StoredResponse, IdempotencyError<ShipError>> {
        let route = format!("POST /fulfillments/{order_id}/ship");
        let event = idempotency_event(caller, key, &route, &Value::Null);
        self.requests
            .run_transactional(&event, || async {
                let (view, writes) = self.decide_ship(order_id, correlation_id).await?;
                Ok((StoredResponse::new(StatusCode::OK, &view), writes))
            })
            .await
    }

    /// Without an Idempotency-Key: the decision alone makes a retry safe (shipping a
    /// shipped order answers 200 and emits nothing).
    async fn ship_once(
        &self,
        order_id: OrderId,
        correlation_id: CorrelationId,
    ) -> Result<StoredResponse, IdempotencyError<ShipError>> {
        let (view, writes) = self
            .decide_ship(order_id, correlation_id)
            .await
            .map_err(IdempotencyError::Handler)?;
        self.ledger.write(writes).await?;
        Ok(StoredResponse::new(StatusCode::OK, &view))
    }

    async fn decide_ship(
        &self,
        order_id: OrderId,
        correlation_id: CorrelationId,
    ) -> Result<(ShipmentView, Vec<L::Write>), ShipError> {
        let current = self.ledger.shipment(order_id).await?;
        let now = Utc::now();
        let (shipment, changes) = domain::ship(current.as_ref(), order_id, correlation_id, now)?;
        if let Some(Change::Emit(e)) = changes.iter().find(|c| matches!(c, Change::Emit(_))) {
            let m = e.metadata();
            let _span =
                eventmart_shared::telemetry::event_span(&m.event_id, &m.correlation_id).entered();
            tracing::info!(orderId = %order_id, "shipping");
        }
        Ok((shipment.view(), self.ledger.writes(changes, now)))
    }
}

fn ledger_problem(e: &LedgerError) -> Problem {
    tracing::error!(error = %e, "fulfillment table failure");
    Problem::unavailable("shipments cannot be read right now; retry later")
}

fn ship_problem(e: ShipError) -> Problem {
    match e {
        ShipError::Refused(r @ ShipRefused::NotFound(_)) => Problem::not_found(r.to_string()),
        ShipError::Refused(r @ ShipRefused::Canceled(_)) => Problem::conflict(r.to_string()),
        ShipError::Ledger(e) => ledger_problem(&e),
    }
}
