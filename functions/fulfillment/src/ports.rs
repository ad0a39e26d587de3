//! The port the handler is generic over: the shipments and the transaction that commits
//! them.

use crate::domain::{Change, Shipment};
use chrono::{DateTime, Utc};
use dynamodb_idempotency::{Store, StoreError};
use eventmart_shared::events::OrderId;
use retryable::Retryable;
use std::future::Future;

/// Attempts at one decision when a concurrent change to the same shipment aborts the
/// transaction: each attempt re-reads and re-decides.
pub(crate) const MAX_ATTEMPTS: usize = 3;

/// Shipments and the transaction that commits them. Its writes are the idempotency
/// store's, so that a decision, its events and the idempotency record commit together.
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
    /// Throttling, a fault, no answer: a retry can succeed.
    #[error("fulfillment table unavailable: {0}")]
    Unavailable(String),
    /// The table refused the request (missing, unauthorised, malformed): a retry is
    /// refused the same way.
    #[error("fulfillment table refused the request: {0}")]
    Refused(String),
    /// Retrying reads the same bytes: permanent.
    #[error("shipment of order {order_id} is malformed: {reason}")]
    Corrupt { order_id: OrderId, reason: String },
}

impl Retryable for LedgerError {
    fn is_retryable(&self) -> bool {
        matches!(self, LedgerError::Unavailable(_))
    }
}

/// A business condition of the transaction failed: the shipment changed after it was
/// read, so deciding again on a fresh read can succeed.
pub(crate) fn is_conflict(e: &StoreError) -> bool {
    e.is_retryable() && !e.conditions_failed.is_empty()
}
