//! In-memory ports for unit tests: one `InMemoryStore` shared by the repository reads and
//! the idempotency records, so that reads see what the handler committed.

use crate::domain::Membership;
use crate::dynamo::{customer_pk, membership_pk};
use crate::ports::{MembershipRepository, RepoError};
use eventmart_shared::events::{CustomerId, Event, MembershipId};
use eventmart_shared::idempotency::InMemoryStore;
use eventmart_shared::idempotency::InMemoryWrite;
use serde_json::{Value, json};
use std::sync::Arc;

/// `InMemoryStore` through an `Arc`: the handler owns one handle, the test another.
#[derive(Clone, Default)]
pub struct Memory(pub Arc<InMemoryStore>);

mod store {
    use super::Memory;
    use eventmart_shared::idempotency::{
        Claim, EpochMillis, InMemoryWrite, Record, Store, StoreError,
    };

    impl Store for Memory {
        type Write = InMemoryWrite;
        async fn claim(&self, record: &Record, now: EpochMillis) -> Result<Claim, StoreError> {
            self.0.claim(record, now).await
        }
        async fn complete(&self, record: &Record) -> Result<(), StoreError> {
            self.0.complete(record).await
        }
        async fn release(&self, key: &str) -> Result<(), StoreError> {
            self.0.release(key).await
        }
        async fn write(&self, writes: Vec<InMemoryWrite>) -> Result<(), StoreError> {
            self.0.write(writes).await
        }
        async fn commit(
            &self,
            record: &Record,
            writes: Vec<InMemoryWrite>,
            now: EpochMillis,
        ) -> Result<Claim, StoreError> {
            self.0.commit(record, writes, now).await
        }
    }
}

impl MembershipRepository for Memory {
    type Write = InMemoryWrite;

    async fn get(&self, id: MembershipId) -> Result<Option<Membership>, RepoError> {
        let key = membership_pk(id);
        self.0
            .item(&key)
            .map(|v| {
                serde_json::from_value(v).map_err(|e| RepoError::Corrupt {
                    key,
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    async fn active_membership(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<MembershipId>, RepoError> {
        // A released customer is stored as null: InMemoryWrite only puts.
        Ok(self
            .0
            .item(&customer_pk(customer))
            .and_then(|v| v.as_str().and_then(|s| s.parse().ok())))
    }

    fn insert(&self, m: &Membership) -> InMemoryWrite {
        put(membership_pk(m.membership_id), json!(m))
    }
    fn claim_customer(&self, m: &Membership) -> InMemoryWrite {
        put(customer_pk(&m.customer_id), json!(m.membership_id))
    }
    fn cancel(&self, m: &Membership) -> InMemoryWrite {
        put(membership_pk(m.membership_id), json!(m))
    }
    fn release_customer(&self, m: &Membership) -> InMemoryWrite {
        put(customer_pk(&m.customer_id), Value::Null)
    }
    fn outbox(&self, event: &Event, _now_secs: i64) -> InMemoryWrite {
        put(
            eventmart_shared::outbox::key(event),
            json!(event.to_entry()),
        )
    }
}

fn put(key: String, value: Value) -> InMemoryWrite {
    InMemoryWrite { key, value }
}
