//! The EventBridge consumer: each event stored once, its day's aggregates moved once.

use crate::app::{App, FUNCTION};
use crate::domain::ingest;
use crate::ports::WritePlan;
use dynamodb_idempotency::{IdempotencyError, Store};
use eventmart_shared::consumer::{ConsumerError, DeadLetters, consume};
use eventmart_shared::events::Event;
use serde_json::{Value, json};
use std::convert::Infallible;

/// Position of the event item in the transaction: the idempotency record is item 0.
const EVENT_ITEM: usize = 1;

impl<S, P, D> App<S, P, D>
where
    S: Store,
    P: WritePlan<Write = S::Write>,
    D: DeadLetters,
{
    /// Handles one EventBridge event. `Ok` when done (stored, a duplicate, or
    /// dead-lettered with its reason); `Err` when a retry can help.
    pub async fn on_event(&self, payload: &Value) -> Result<Value, ConsumerError> {
        consume(FUNCTION, payload, &self.dead_letters, |event| {
            self.store_event(payload, event)
        })
        .await
    }

    /// One transaction: the idempotency record, the event item and the day's increments.
    async fn store_event(
        &self,
        payload: &Value,
        event: Event,
    ) -> Result<Value, IdempotencyError<Infallible>> {
        let what = ingest(&event);
        let detail = payload.get("detail").cloned().unwrap_or(Value::Null);
        let result = self
            .idempotency
            .run_transactional(payload, || async {
                Ok::<_, Infallible>((what.summary(), self.plan.writes(&what, &detail)))
            })
            .await;
        match result {
            // The event item exists but its idempotency record does not (it expired: a
            // replay from the archive days later). The transaction wrote nothing; the
            // event was counted when it was stored.
            Err(IdempotencyError::Store(e)) if e.conditions_failed.contains(&EVENT_ITEM) => {
                tracing::info!("event already stored; its record had expired");
                Ok(json!({ "eventId": what.event_id.to_string(), "alreadyStored": true }))
            }
            other => other,
        }
    }
}
