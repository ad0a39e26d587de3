//! In-memory ports for unit tests (and, behind the `memory` feature, the fuzz targets):
//! one `InMemoryStore` shared by the repository reads and the idempotency records, so
//! that reads see what the handler committed.

use crate::domain::Membership;
use crate::dynamo::{customer_pk, membership_pk};
use crate::ports::{MembershipRepository, RepoError};
use dynamodb_idempotency::InMemoryStore;
use dynamodb_idempotency::InMemoryWrite;
use eventmart_shared::events::{CustomerId, Event, MembershipId};
use serde_json::{Value, json};
use std::sync::Arc;

/// The membership repository over an [`InMemoryStore`]; pass `memory.0.clone()` as the
/// handler's idempotency store so that reads see what the handler committed.
#[derive(Clone, Default)]
pub struct Memory(pub Arc<InMemoryStore>);

impl MembershipRepository for Memory {
    type Write = InMemoryWrite;

    async fn get(&self, id: MembershipId) -> Result<Option<Membership>, RepoError> {
        let key = membership_pk(id);
        self.0
            .item(&key)
            .map(|v| serde_json::from_value(v).map_err(|e| RepoError::corrupt(key, e)))
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
