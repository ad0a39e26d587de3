//! The fulfillment function: `OrderPlaced` prepares a shipment, `OrderCanceled` reverses
//! it (or, when the cancel came first, leaves a tombstone that a late order cannot get
//! past), and the warehouse marks shipments shipped over HTTP. Every change commits with
//! the events it causes (outbox items) in one DynamoDB transaction.

pub mod domain;
pub mod dynamo;

use chrono::{DateTime, Utc};
use domain::{Change, Decision, Outcome, ShipRefused, Shipment, ShipmentView};
use dynamodb_idempotency::{Config, Idempotency, IdempotencyError, Store, StoreError};
use eventmart_shared::consumer::{ConsumerError, DeadLetters, SqsDeadLetters, consume};
use eventmart_shared::events::{CorrelationId, Event, OrderId};
use eventmart_shared::http::{
    FieldError, Problem, StoredResponse, idempotency_config, idempotency_event, idempotency_key,
    idempotency_problem, json, method_not_allowed, segments,
};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;

pub use dynamo::DynamoLedger;
pub use eventmart_shared::aws::ConfigError;

/// The function's name: idempotency keys and dead letters carry it.
pub const FUNCTION: &str = "fulfillment";

/// Attempts at one decision when a concurrent change to the same shipment aborts the
/// transaction: each attempt re-reads and re-decides.
const MAX_ATTEMPTS: usize = 3;

/// Shipments and the transaction that commits them (the port the handler is generic over).
/// Its writes are the idempotency store's, so that a decision, its events and the
/// idempotency record commit together.
pub trait Ledger: Store + Clone + Send + Sync + 'static {
    /// The shipment of an order, read consistently.
    fn shipment(
        &self,
        order_id: OrderId,
    ) -> impl Future<Output = Result<Option<Shipment>, LedgerError>> + Send;

    /// The store writes that apply `changes` (shipment puts under their conditions,
    /// outbox items for emitted events).
    fn writes(&self, changes: Vec<Change>, now: DateTime<Utc>) -> Vec<Self::Write>;
}

/// Reading a shipment failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    #[error("fulfillment table unavailable: {message}")]
    Unavailable { message: String, retryable: bool },
    /// Retrying reads the same bytes: permanent.
    #[error("shipment of order {order_id} is malformed: {reason}")]
    Corrupt { order_id: OrderId, reason: String },
}

impl LedgerError {
    pub fn retryable(&self) -> bool {
        match self {
            LedgerError::Unavailable { retryable, .. } => *retryable,
            LedgerError::Corrupt { .. } => false,
        }
    }
}

/// Why handling an event failed before its transaction committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HandleError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("fulfillment does not consume {0}")]
    Unexpected(&'static str),
}

impl HandleError {
    fn retryable(&self) -> bool {
        match self {
            HandleError::Ledger(e) => e.retryable(),
            HandleError::Unexpected(_) => false,
        }
    }
}

/// Why a ship request failed before its transaction committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ShipError {
    #[error(transparent)]
    Refused(#[from] ShipRefused),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// What the idempotency record stores for an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handled {
    pub outcome: Outcome,
    /// `eventId`s of the events emitted.
    pub emitted: Vec<String>,
}

/// The handler: generic over the shipment ledger and the dead-letter queue.
pub struct App<L: Ledger, D> {
    ledger: L,
    events: Idempotency<L>,
    requests: Idempotency<L>,
    dlq: D,
}

impl App<DynamoLedger, SqsDeadLetters> {
    /// Explicit tables and queue, for tests and for [`App::from_env`].
    pub fn dynamo(
        dynamodb: aws_sdk_dynamodb::Client,
        sqs: aws_sdk_sqs::Client,
        fulfillment_table: &str,
        idempotency_table: &str,
        dead_letter_queue_url: &str,
    ) -> Self {
        App::new(
            DynamoLedger::new(dynamodb, fulfillment_table, idempotency_table),
            SqsDeadLetters::new(sqs, dead_letter_queue_url),
        )
    }

    /// FULFILLMENT_TABLE, IDEMPOTENCY_TABLE and DEAD_LETTER_QUEUE_URL from the environment.
    pub fn from_env(config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        use eventmart_shared::aws::env;
        Ok(Self::dynamo(
            aws_sdk_dynamodb::Client::new(config),
            aws_sdk_sqs::Client::new(config),
            &env("FULFILLMENT_TABLE")?,
            &env("IDEMPOTENCY_TABLE")?,
            &env("DEAD_LETTER_QUEUE_URL")?,
        ))
    }
}

impl<L: Ledger, D: DeadLetters> App<L, D> {
    pub fn new(ledger: L, dlq: D) -> Self {
        Self::with_configs(
            ledger,
            dlq,
            Config::for_eventbridge(FUNCTION),
            idempotency_config(FUNCTION),
        )
    }

    /// With explicit idempotency configurations (tests move the clock).
    pub fn with_configs(ledger: L, dlq: D, events: Config, requests: Config) -> Self {
        Self {
            events: Idempotency::new(ledger.clone(), events),
            requests: Idempotency::new(ledger.clone(), requests),
            ledger,
            dlq,
        }
    }

    pub fn ledger(&self) -> &L {
        &self.ledger
    }

    /// An EventBridge event: `Ok` when handled or dead-lettered, `Err` when a retry can help.
    pub async fn event(&self, payload: &Value) -> Result<Value, ConsumerError> {
        consume(FUNCTION, payload, &self.dlq, |event| async move {
            let handled = self.decide_and_commit(payload, &event).await?;
            Ok(serde_json::to_value(handled).unwrap_or(Value::Null))
        })
        .await
    }

    async fn decide_and_commit(
        &self,
        payload: &Value,
        event: &Event,
    ) -> Result<Handled, ConsumerError> {
        let order_id = match event {
            Event::OrderPlaced(e) => e.data.order_id,
            Event::OrderCanceled(e) => e.data.order_id,
            other => {
                return Err(ConsumerError::permanent(
                    HandleError::Unexpected(other.event_type().detail_type()).to_string(),
                ));
            }
        };
        let mut attempt = 1;
        loop {
            let result = self
                .events
                .run_transactional(payload, || async {
                    let current = self.ledger.shipment(order_id).await?;
                    let now = Utc::now();
                    let decision = match event {
                        Event::OrderPlaced(e) => domain::on_order_placed(current.as_ref(), e, now),
                        Event::OrderCanceled(e) => {
                            domain::on_order_canceled(current.as_ref(), e, now)
                        }
                        other => {
                            return Err(HandleError::Unexpected(other.event_type().detail_type()));
                        }
                    };
                    let Decision { outcome, changes } = decision.clone();
                    let handled = Handled {
                        outcome,
                        emitted: decision
                            .emitted()
                            .map(|e| e.metadata().event_id.to_string())
                            .collect(),
                    };
                    Ok((handled, self.ledger.writes(changes, now)))
                })
                .await;
            match result {
                Ok(handled) => {
                    log_outcome(&handled);
                    return Ok(handled);
                }
                Err(IdempotencyError::Store(e)) if is_conflict(&e) && attempt < MAX_ATTEMPTS => {
                    tracing::info!(attempt, error = %e, "shipment changed meanwhile; deciding again");
                    attempt += 1;
                }
                Err(IdempotencyError::Handler(e)) => {
                    let retryable = e.retryable();
                    return Err(ConsumerError {
                        message: e.to_string(),
                        retryable,
                    });
                }
                Err(e) => return Err(ConsumerError::from(e)),
            }
        }
    }

    /// An HTTP API request.
    pub async fn http(&self, req: Request) -> Response<Body> {
        let method = req.method().clone();
        let segs = segments(&req);
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["fulfillments", id] => match method {
                Method::GET => match parse_order_id(id) {
                    Ok(order_id) => self.get(order_id).await,
                    Err(p) => p.into_response(),
                },
                _ => method_not_allowed(&[Method::GET]),
            },
            ["fulfillments", id, "ship"] => match method {
                Method::POST => match parse_order_id(id) {
                    Ok(order_id) => self.ship(&req, order_id).await,
                    Err(p) => p.into_response(),
                },
                _ => method_not_allowed(&[Method::POST]),
            },
            _ => Problem::not_found("no such resource").into_response(),
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

    async fn ship(&self, req: &Request, order_id: OrderId) -> Response<Body> {
        let key = match idempotency_key(req) {
            Ok(k) => k,
            Err(p) => return p.into_response(),
        };
        let correlation_id = CorrelationId::new();
        let mut attempt = 1;
        loop {
            let result = match &key {
                Some(key) => {
                    let route = format!("POST /fulfillments/{order_id}/ship");
                    let event = idempotency_event(key, &route, &Value::Null);
                    self.requests
                        .run_transactional(&event, || async {
                            let (view, writes) = self.decide_ship(order_id, correlation_id).await?;
                            Ok((StoredResponse::new(StatusCode::OK, &view), writes))
                        })
                        .await
                }
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

fn log_outcome(handled: &Handled) {
    match handled.outcome {
        Outcome::LateOrderAbsorbed => {
            tracing::info!(outcome = ?handled.outcome, "order arrived after its cancel; nothing prepared")
        }
        outcome => tracing::info!(?outcome, emitted = ?handled.emitted, "decided"),
    }
}

/// A business condition failed: the shipment changed after it was read.
fn is_conflict(e: &StoreError) -> bool {
    e.retryable && !e.conditions_failed.is_empty()
}

fn parse_order_id(s: &str) -> Result<OrderId, Problem> {
    s.parse()
        .map_err(|e: eventmart_shared::events::InvalidValue| {
            Problem::invalid(vec![FieldError {
                field: "orderId".into(),
                message: e.0,
            }])
        })
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

#[cfg(test)]
mod tests;
