//! The EventBridge consumer: `OrderPlaced` prepares a shipment, `OrderCanceled` reverses
//! it or leaves a tombstone.

use crate::app::{App, FUNCTION};
use crate::domain::{self, Decision, Outcome, Shipment};
use crate::ports::{Ledger, LedgerError, MAX_ATTEMPTS, is_conflict};
use chrono::{DateTime, Utc};
use dynamodb_idempotency::IdempotencyError;
use eventmart_shared::consumer::{ConsumerError, DeadLetters, consume};
use eventmart_shared::events::{Envelope, Event, OrderCanceled, OrderId, OrderPlaced};
use retryable::Retryable;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why handling an event failed before its transaction committed.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    #[error("fulfillment does not consume {0}")]
    Unexpected(&'static str),
    /// The read, the decision's commit or its idempotency record failed; a failed read
    /// keeps the ledger's own class.
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError<LedgerError>),
}

impl Retryable for HandleError {
    fn is_retryable(&self) -> bool {
        match self {
            HandleError::Unexpected(_) => false,
            HandleError::Idempotency(e) => e.is_retryable(),
        }
    }
}

/// What the idempotency record stores for an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handled {
    pub outcome: Outcome,
    /// `eventId`s of the events emitted.
    pub emitted: Vec<String>,
}

/// An event fulfillment consumes.
#[derive(Clone, Copy)]
enum Consumed<'a> {
    Placed(&'a Envelope<OrderPlaced>),
    Canceled(&'a Envelope<OrderCanceled>),
}

impl<'a> Consumed<'a> {
    fn of(event: &'a Event) -> Result<Self, HandleError> {
        match event {
            Event::OrderPlaced(e) => Ok(Consumed::Placed(e)),
            Event::OrderCanceled(e) => Ok(Consumed::Canceled(e)),
            other => Err(HandleError::Unexpected(other.event_type().detail_type())),
        }
    }

    fn order_id(self) -> OrderId {
        match self {
            Consumed::Placed(e) => e.data.order_id,
            Consumed::Canceled(e) => e.data.order_id,
        }
    }

    fn decide(self, current: Option<&Shipment>, now: DateTime<Utc>) -> Decision {
        match self {
            Consumed::Placed(e) => domain::on_order_placed(current, e, now),
            Consumed::Canceled(e) => domain::on_order_canceled(current, e, now),
        }
    }
}

impl<L: Ledger, D: DeadLetters> App<L, D> {
    /// An EventBridge event: `Ok` when handled or dead-lettered, `Err` when a retry can help.
    pub async fn on_event(&self, payload: &Value) -> Result<Value, ConsumerError> {
        consume(FUNCTION, payload, &self.dlq, |event| async move {
            let handled = self.decide_and_commit(payload, &event).await?;
            Ok::<_, HandleError>(serde_json::to_value(handled).unwrap_or(Value::Null))
        })
        .await
    }

    /// Reads, decides and commits the decision with its idempotency record; a
    /// concurrent change to the shipment between the read and the commit makes it
    /// decide again on a fresh read.
    async fn decide_and_commit(
        &self,
        payload: &Value,
        event: &Event,
    ) -> Result<Handled, HandleError> {
        let consumed = Consumed::of(event)?;
        let mut attempt = 1;
        loop {
            let result = self
                .events
                .run_transactional(payload, || async {
                    let current = self.ledger.shipment(consumed.order_id()).await?;
                    let now = Utc::now();
                    let decision = consumed.decide(current.as_ref(), now);
                    let handled = Handled {
                        outcome: decision.outcome,
                        emitted: decision
                            .emitted()
                            .map(|e| e.metadata().event_id.to_string())
                            .collect(),
                    };
                    Ok((handled, self.ledger.writes(decision.changes, now)))
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
                Err(e) => return Err(e.into()),
            }
        }
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
