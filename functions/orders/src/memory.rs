//! In-memory ports for unit tests: one `InMemoryStore` shared by the repository reads and
//! the idempotency records, so that reads see what the handler committed.

use crate::domain::{Order, OrderStatus};
use crate::ports::{OrderRepository, RepoError};
use eventmart_shared::events::EventType;
use eventmart_shared::events::{Event, OrderId};
use eventmart_shared::idempotency::{
    Claim, EpochMillis, InMemoryStore, InMemoryWrite, Record, Store, StoreError,
};
use serde_json::Value;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Memory {
    pub store: Arc<InMemoryStore>,
    /// Every write committed, in order: what the tests count.
    pub committed: Arc<Mutex<Vec<InMemoryWrite>>>,
}

impl Memory {
    pub fn item(&self, key: &str) -> Option<Value> {
        self.store.item(key)
    }

    /// The events committed to the outbox, parsed as consumers will parse them.
    pub fn outbox(&self) -> Vec<Event> {
        let committed = self.committed.lock().unwrap();
        committed
            .iter()
            .filter(|w| w.key.starts_with("OUTBOX#"))
            .map(|w| {
                let ty = EventType::lookup(
                    w.value["Source"].as_str().unwrap(),
                    w.value["DetailType"].as_str().unwrap(),
                )
                .unwrap();
                let detail: Value =
                    serde_json::from_str(w.value["Detail"].as_str().unwrap()).unwrap();
                Event::from_detail(ty, &detail).unwrap()
            })
            .collect()
    }

    fn log(&self, writes: &[InMemoryWrite]) {
        self.committed.lock().unwrap().extend_from_slice(writes);
    }
}

impl Store for Memory {
    type Write = InMemoryWrite;

    async fn claim(&self, record: &Record, now: EpochMillis) -> Result<Claim, StoreError> {
        self.store.claim(record, now).await
    }
    async fn complete(&self, record: &Record) -> Result<(), StoreError> {
        self.store.complete(record).await
    }
    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.store.release(key).await
    }
    async fn write(&self, writes: Vec<InMemoryWrite>) -> Result<(), StoreError> {
        self.log(&writes);
        self.store.write(writes).await
    }
    async fn commit(
        &self,
        record: &Record,
        writes: Vec<InMemoryWrite>,
        now: EpochMillis,
    ) -> Result<Claim, StoreError> {
        let logged = writes.clone();
        let claim = self.store.commit(record, writes, now).await?;
        if claim == Claim::Claimed {
            self.log(&logged);
        }
        Ok(claim)
    }
}

impl OrderRepository for Memory {
    type Write = InMemoryWrite;

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepoError> {
        let key = crate::dynamo::pk(id);
        self.store
            .item(&key)
            .map(|v| {
                serde_json::from_value(v).map_err(|e| RepoError::Corrupt {
                    key,
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    fn insert(&self, order: &Order) -> InMemoryWrite {
        put(order)
    }

    fn transition(&self, order: &Order, _from: OrderStatus) -> InMemoryWrite {
        put(order)
    }

    fn outbox(&self, event: &Event, _now_secs: i64) -> InMemoryWrite {
        InMemoryWrite {
            key: eventmart_shared::outbox::key(event),
            value: serde_json::to_value(event.to_entry()).unwrap_or_default(),
        }
    }
}

fn put(order: &Order) -> InMemoryWrite {
    InMemoryWrite {
        key: crate::dynamo::pk(order.order_id),
        value: serde_json::to_value(order).unwrap_or_default(),
    }
}
