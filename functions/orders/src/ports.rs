//! What the handlers need from storage: reads, and builders of the writes that
//! [`dynamodb_idempotency::Store`] commits (alone or with an idempotency record).

use crate::domain::{Order, OrderStatus};
use eventmart_shared::events::{Event, OrderId};
use std::future::Future;

/// The orders table.
pub trait OrderRepository: Send + Sync {
    /// The write type of the store the writes are committed through.
    type Write: Send;

    /// The order, read consistently, if it exists.
    fn get(&self, id: OrderId) -> impl Future<Output = Result<Option<Order>, RepoError>> + Send;

    /// Creates `order`; fails the transaction if the id is taken.
    fn insert(&self, order: &Order) -> Self::Write;

    /// Moves the stored order to `order`'s status (and cancel reason), only while it is
    /// still `from`: the condition that makes concurrent transitions lose cleanly.
    fn transition(&self, order: &Order, from: OrderStatus) -> Self::Write;

    /// The outbox item of `event`.
    fn outbox(&self, event: &Event, now_secs: i64) -> Self::Write;
}

/// A read of the orders table failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoError {
    #[error("orders table: {message}")]
    Unavailable { message: String, retryable: bool },
    /// A stored item that is not an order: a retry reads the same bytes.
    #[error("stored order `{key}` is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
}

impl RepoError {
    pub fn is_retryable(&self) -> bool {
        match self {
            RepoError::Unavailable { retryable, .. } => *retryable,
            RepoError::Corrupt { .. } => false,
        }
    }
}
