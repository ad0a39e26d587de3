//! The port to the daily aggregates.

use crate::domain::{DateRange, Day};
use retryable::Retryable;
use std::future::Future;

/// Reading the aggregates failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached, was throttled or failed; a retry may help.
    #[error("the daily aggregates could not be read (a retry may help): {0}")]
    Unavailable(String),
    /// The store refused the request (a missing table, a denied action); a retry is
    /// refused the same way.
    #[error("the daily aggregates store refused the request: {0}")]
    Refused(String),
    /// A stored item does not have the documented layout; a retry cannot help.
    #[error("the daily aggregate {day:?} is malformed at {attribute}: {reason}")]
    Malformed {
        day: String,
        attribute: String,
        reason: String,
    },
}

impl Retryable for StoreError {
    fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Reads the stored days of a range.
pub trait DailyStore: Send + Sync {
    /// Every stored day in `range` (days with no item are absent), in any order.
    fn days(&self, range: DateRange) -> impl Future<Output = Result<Vec<Day>, StoreError>> + Send;
}
