//! In-memory ports for unit tests (and, behind the `memory` feature, the fuzz targets):
//! one `InMemoryStore` shared by the repository reads and the idempotency records, so
//! that reads see what the handler committed.

use crate::domain::{Membership, MembershipStatus};
use crate::dynamo::{customer_pk, membership_pk};
use crate::ports::{MembershipRepository, RepoError};
use dynamodb_idempotency::InMemoryStore;
use dynamodb_idempotency::{Condition, InMemoryWrite};
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
        // A released customer's item is deleted (a put of null).
        Ok(self
            .0
            .item(&customer_pk(customer))
            .and_then(|v| v.as_str().and_then(|s| s.parse().ok())))
    }

    // The conditions are the DynamoDB adapter's, so that races lose here as they do there.
    fn insert(&self, m: &Membership) -> InMemoryWrite {
        InMemoryWrite::put(membership_pk(m.membership_id), json!(m)).when(Condition::Absent)
    }
    fn claim_customer(&self, m: &Membership) -> InMemoryWrite {
        InMemoryWrite::put(customer_pk(&m.customer_id), json!(m.membership_id))
            .when(held_by_none_or(m))
    }
    fn cancel(&self, m: &Membership) -> InMemoryWrite {
        InMemoryWrite::put(membership_pk(m.membership_id), json!(m)).when(Condition::equals(
            "/status",
            MembershipStatus::Active.as_str(),
        ))
    }
    fn release_customer(&self, m: &Membership) -> InMemoryWrite {
        InMemoryWrite::put(customer_pk(&m.customer_id), Value::Null).when(held_by_none_or(m))
    }
    fn outbox(&self, event: &Event, _now_secs: i64) -> InMemoryWrite {
        InMemoryWrite::put(
            eventmart_shared::outbox::key(event),
            json!(event.to_entry()),
        )
        .when(Condition::Absent)
    }
}

/// `attribute_not_exists(pk) OR membershipId = :id` on the customer's item.
fn held_by_none_or(m: &Membership) -> Condition {
    Condition::Any(vec![
        Condition::Absent,
        Condition::equals("", json!(m.membership_id)),
    ])
}
