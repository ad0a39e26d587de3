//! What the handler needs from the store besides its idempotency record, with no AWS
//! types: the writes that store one event.

use crate::domain::Ingest;
use serde_json::Value;

/// Turns what an event means into the writes of its transaction: the event item
/// (written only where none exists) first, then the day's increments if any. The writes
/// commit with the idempotency record, so the store's errors are the idempotency
/// store's ([`dynamodb_idempotency::StoreError`], which is `Retryable`).
pub trait WritePlan: Send + Sync {
    type Write: Send;
    fn writes(&self, ingest: &Ingest, detail: &Value) -> Vec<Self::Write>;
}
