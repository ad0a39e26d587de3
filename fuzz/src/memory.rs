//! In-memory ports for the producers' handlers (the crates keep theirs for their unit
//! tests only): one `InMemoryStore` behind the repository reads and the idempotency
//! records, and a log of every committed write, so a target can check the outbox.

use eventmart_shared::consumer::{ConsumerError, DeadLetters};
use eventmart_shared::events::{CustomerId, Event, MembershipId, OrderId};
use eventmart_shared::idempotency::{
    Claim, EpochMillis, InMemoryStore, InMemoryWrite, Record, Store, StoreError,
};
use memberships::{Membership, MembershipRepository};
use orders::{Order, OrderRepository, OrderStatus};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct Memory {
    pub store: Arc<InMemoryStore>,
    /// Every write committed, in order.
    pub committed: Arc<Mutex<Vec<InMemoryWrite>>>,
}

impl Memory {
    /// Takes the writes committed since the last call.
    pub fn drain(&self) -> Vec<InMemoryWrite> {
        std::mem::take(&mut *self.committed.lock().unwrap())
    }

    fn log(&self, writes: &[InMemoryWrite]) {
        self.committed.lock().unwrap().extend_from_slice(writes);
    }

    fn read<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.store.item(key).map(|v| {
            serde_json::from_value(v)
                .unwrap_or_else(|e| panic!("stored item {key} does not read back: {e}"))
        })
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

fn put(key: String, value: Value) -> InMemoryWrite {
    InMemoryWrite { key, value }
}

fn outbox(event: &Event) -> InMemoryWrite {
    put(
        eventmart_shared::outbox::key(event),
        json!(event.to_entry()),
    )
}

impl OrderRepository for Memory {
    type Write = InMemoryWrite;

    async fn get(&self, id: OrderId) -> Result<Option<Order>, orders::RepoError> {
        Ok(self.read(&orders::dynamo::pk(id)))
    }
    fn insert(&self, order: &Order) -> InMemoryWrite {
        put(orders::dynamo::pk(order.order_id), json!(order))
    }
    fn transition(&self, order: &Order, _from: OrderStatus) -> InMemoryWrite {
        put(orders::dynamo::pk(order.order_id), json!(order))
    }
    fn outbox(&self, event: &Event, _now_secs: i64) -> InMemoryWrite {
        outbox(event)
    }
}

impl MembershipRepository for Memory {
    type Write = InMemoryWrite;

    async fn get(&self, id: MembershipId) -> Result<Option<Membership>, memberships::RepoError> {
        Ok(self.read(&memberships::dynamo::membership_pk(id)))
    }
    async fn active_membership(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<MembershipId>, memberships::RepoError> {
        // A released customer is stored as null: InMemoryWrite only puts.
        Ok(self
            .store
            .item(&memberships::dynamo::customer_pk(customer))
            .and_then(|v| v.as_str().and_then(|s| s.parse().ok())))
    }
    fn insert(&self, m: &Membership) -> InMemoryWrite {
        put(
            memberships::dynamo::membership_pk(m.membership_id),
            json!(m),
        )
    }
    fn claim_customer(&self, m: &Membership) -> InMemoryWrite {
        put(
            memberships::dynamo::customer_pk(&m.customer_id),
            json!(m.membership_id),
        )
    }
    fn cancel(&self, m: &Membership) -> InMemoryWrite {
        put(
            memberships::dynamo::membership_pk(m.membership_id),
            json!(m),
        )
    }
    fn release_customer(&self, m: &Membership) -> InMemoryWrite {
        put(
            memberships::dynamo::customer_pk(&m.customer_id),
            Value::Null,
        )
    }
    fn outbox(&self, event: &Event, _now_secs: i64) -> InMemoryWrite {
        outbox(event)
    }
}

/// Dead letters nobody reads: the HTTP targets send no event.
pub struct NoDeadLetters;

impl DeadLetters for NoDeadLetters {
    async fn send(&self, _message: &Value) -> Result<(), ConsumerError> {
        Ok(())
    }
}
