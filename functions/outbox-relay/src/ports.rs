//! The bus the relay publishes to, with no AWS types.

use crate::domain::OutboxEntry;
use retryable::Retryable;
use std::future::Future;

/// Why PutEvents did not take one entry. The relay resends every failed entry within its
/// attempts and reports what is left as a batch item failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct EntryFailure {
    pub code: String,
    pub message: String,
}

/// A PutEvents request failed as a whole: every entry in it failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The bus refused the request (malformed, unauthorised): resent, it fails the same
    /// way.
    #[error("PutEvents failed: {0}")]
    Rejected(String),
    /// Throttling, a fault of the bus or the network: a resend can succeed.
    #[error("PutEvents failed: {0}")]
    Unavailable(String),
}

impl Retryable for PublishError {
    fn is_retryable(&self) -> bool {
        matches!(self, PublishError::Unavailable(_))
    }
}

/// The bus.
pub trait Publisher: Send + Sync {
    /// Puts one batch (within PutEvents' limits); the result has one element per entry,
    /// in order.
    fn put_events(
        &self,
        entries: &[&OutboxEntry],
    ) -> impl Future<Output = Result<Vec<Result<(), EntryFailure>>, PublishError>> + Send;
}
