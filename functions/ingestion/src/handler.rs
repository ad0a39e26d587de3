//! The handler: each event stored once, its day's aggregates moved once.

use crate::domain::{Ingest, ingest};
use dynamodb_idempotency::{Idempotency, IdempotencyError, Store};
use eventmart_shared::consumer::{ConsumerError, DeadLetters, consume};
use eventmart_shared::events::Event;
use serde_json::{Map, Value, json};
use std::convert::Infallible;

/// The function's name: the idempotency key prefix and the dead-letter `function`.
pub const FUNCTION: &str = "ingestion";

/// Position of the event item in the transaction: the idempotency record is item 0.
const EVENT_ITEM: usize = 1;

/// Turns what an event means into the writes of its transaction: the event item
/// (written only where none exists) first, then the day's increments if any.
pub trait WritePlan: Send + Sync {
    type Write: Send;
    fn writes(&self, ingest: &Ingest, detail: &Value) -> Vec<Self::Write>;
}

/// The ingestion consumer, generic over its store and write plan.
pub struct Ingestor<S, P, D> {
    idempotency: Idempotency<S>,
    plan: P,
    dead_letters: D,
}

impl<S, P, D> Ingestor<S, P, D>
where
    S: Store,
    P: WritePlan<Write = S::Write>,
    D: DeadLetters,
{
    pub fn new(idempotency: Idempotency<S>, plan: P, dead_letters: D) -> Self {
        Self {
            idempotency,
            plan,
            dead_letters,
        }
    }

    pub fn store(&self) -> &S {
        self.idempotency.store()
    }

    /// Handles one EventBridge event. `Ok` when done (stored, a duplicate, or
    /// dead-lettered with its reason); `Err` when a retry can help.
    pub async fn handle(&self, payload: &Value) -> Result<Value, ConsumerError> {
        consume(FUNCTION, payload, &self.dead_letters, |event| {
            self.on_event(payload, event)
        })
        .await
    }

    async fn on_event(&self, payload: &Value, event: Event) -> Result<Value, ConsumerError> {
        let what = ingest(&event);
        let detail = payload.get("detail").cloned().unwrap_or(Value::Null);
        let result = self
            .idempotency
            .run_transactional(payload, || async {
                Ok::<_, Infallible>((summary(&what), self.plan.writes(&what, &detail)))
            })
            .await;
        match result {
            Ok(out) => Ok(out),
            // The event item exists but its idempotency record does not (it expired: a
            // replay from the archive days later). The transaction wrote nothing; the
            // event was counted when it was stored.
            Err(IdempotencyError::Store(e)) if e.conditions_failed.contains(&EVENT_ITEM) => {
                tracing::info!("event already stored; its record had expired");
                Ok(json!({ "eventId": what.event_id.to_string(), "alreadyStored": true }))
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn summary(what: &Ingest) -> Value {
    let counters: Map<String, Value> = what
        .increments
        .iter()
        .map(|i| (i.counter.clone(), json!(i.by)))
        .collect();
    json!({ "eventId": what.event_id.to_string(), "day": what.day, "counters": counters })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamodb_idempotency::{Config, InMemoryStore, InMemoryWrite};
    use eventmart_shared::consumer::InMemoryDeadLetters;
    use std::path::PathBuf;

    /// Puts the event item and the day's increments under readable keys.
    struct MemoryPlan;

    impl WritePlan for MemoryPlan {
        type Write = InMemoryWrite;
        fn writes(&self, what: &Ingest, detail: &Value) -> Vec<InMemoryWrite> {
            vec![
                InMemoryWrite {
                    key: format!("EVENT#{}", what.event_id),
                    value: json!({"day": what.day, "detail": detail}),
                },
                InMemoryWrite {
                    key: format!("DAILY#{}#{}", what.day, what.event_id),
                    value: summary(what)["counters"].clone(),
                },
            ]
        }
    }

    type TestIngestor = Ingestor<InMemoryStore, MemoryPlan, InMemoryDeadLetters>;

    fn ingestor() -> TestIngestor {
        Ingestor::new(
            Idempotency::new(InMemoryStore::default(), Config::for_eventbridge(FUNCTION)),
            MemoryPlan,
            InMemoryDeadLetters::default(),
        )
    }

    fn sample(name: &str) -> Value {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/eventbridge")
            .join(format!("{name}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn an_event_is_stored_with_its_increments_and_a_duplicate_replays() {
        let i = ingestor();
        let ev = sample("OrderPlaced");
        let out = i.handle(&ev).await.unwrap();
        assert_eq!(
            out,
            json!({
                "eventId": "0193b3a4-aaaa-7000-8000-000000000001",
                "day": "2026-11-20",
                "counters": {"ordersPlaced": 1, "grossRevenue_EUR": 11499}
            })
        );
        let item = i
            .store()
            .item("EVENT#0193b3a4-aaaa-7000-8000-000000000001")
            .unwrap();
        assert_eq!(item["detail"], ev["detail"]);
        assert_eq!(i.handle(&ev).await.unwrap(), out);
    }

    #[tokio::test]
    async fn the_same_event_id_with_another_detail_is_not_counted() {
        let i = ingestor();
        let ev = sample("OrderShipped");
        i.handle(&ev).await.unwrap();
        let mut changed = ev.clone();
        changed["detail"]["data"]["customerId"] = json!("someone-else");
        let out = i.handle(&changed).await.unwrap();
        let reason = out["deadLettered"].as_str().unwrap();
        assert!(reason.contains("different payload"), "{reason}");
    }

    #[tokio::test]
    async fn a_malformed_event_is_dead_lettered_and_stores_nothing() {
        let i = ingestor();
        let mut ev = sample("OrderCanceled");
        ev["detail"]["metadata"]["occurredAt"] = json!("yesterday");
        let out = i.handle(&ev).await.unwrap();
        assert!(
            out["deadLettered"]
                .as_str()
                .unwrap()
                .contains("detail.metadata.occurredAt")
        );
        assert_eq!(i.dead_letters.messages.lock().unwrap().len(), 1);
        assert!(
            i.store()
                .item("EVENT#0193b3a4-aaaa-7000-8000-000000000002")
                .is_none()
        );
    }
}
