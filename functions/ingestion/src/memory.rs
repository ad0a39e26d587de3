//! An in-memory write plan, for unit tests and for callers that run the handler without
//! AWS.

use crate::domain::Ingest;
use crate::ports::WritePlan;
use dynamodb_idempotency::{Condition, InMemoryWrite};
use serde_json::{Value, json};

/// Puts the event item and the day's increments under readable keys of the in-memory
/// store: `EVENT#<eventId>` (only where none exists, as the DynamoDB plan's condition
/// says) and `DAILY#<day>#<eventId>`. A day's aggregate is the sum of its `DAILY#<day>#`
/// items, each of which lands once with its event or not at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryPlan;

impl WritePlan for MemoryPlan {
    type Write = InMemoryWrite;

    fn writes(&self, what: &Ingest, detail: &Value) -> Vec<InMemoryWrite> {
        vec![
            InMemoryWrite::put(
                format!("EVENT#{}", what.event_id),
                json!({"day": what.day, "detail": detail}),
            )
            .when(Condition::Absent),
            InMemoryWrite::put(
                format!("DAILY#{}#{}", what.day, what.event_id),
                what.summary()["counters"].clone(),
            ),
        ]
    }
}
