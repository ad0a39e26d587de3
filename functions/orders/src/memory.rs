//! In-memory ports for unit tests (and, behind the `memory` feature, the fuzz targets):
//! one `InMemoryStore` shared by the repository reads and the idempotency records, so
//! that reads see what the handler committed.

use crate::domain::{Order, OrderStatus};
use crate::members::{ViewEntry, ViewStatus};
use crate::ports::{MemberView, OrderRepository, RepoError};
use dynamodb_idempotency::{Condition, InMemoryStore, InMemoryWrite};
use eventmart_shared::events::EventType;
use eventmart_shared::events::{CustomerId, Event, MembershipId, OrderId};
use serde_json::Value;
use std::sync::Arc;

/// The order repository over an [`InMemoryStore`]; pass `memory.store.clone()` as the
/// handler's idempotency store so that reads see what the handler committed.
#[derive(Clone, Default)]
pub struct Memory {
    pub store: Arc<InMemoryStore>,
}

impl Memory {
    pub fn item(&self, key: &str) -> Option<Value> {
        self.store.item(key)
    }

    /// The events committed to the outbox, parsed as consumers will parse them.
    pub fn outbox(&self) -> Vec<Event> {
        self.store
            .committed()
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
}

impl OrderRepository for Memory {
    type Write = InMemoryWrite;

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepoError> {
        let key = crate::dynamo::pk(id);
        self.store
            .item(&key)
            .map(|v| serde_json::from_value(v).map_err(|e| RepoError::corrupt(key, e)))
            .transpose()
    }

    // The conditions are the DynamoDB adapter's, so that races lose here as they do there.
    fn insert(&self, order: &Order) -> InMemoryWrite {
        put(order).when(Condition::Absent)
    }

    fn transition(&self, order: &Order, from: OrderStatus) -> InMemoryWrite {
        put(order).when(Condition::equals("/status", from.as_str()))
    }

    fn outbox(&self, event: &Event, _now_secs: i64) -> InMemoryWrite {
        InMemoryWrite::put(
            eventmart_shared::outbox::key(event),
            serde_json::to_value(event.to_entry()).unwrap_or_default(),
        )
        .when(Condition::Absent)
    }
}

/// The member view's items: `MEMBER#<customerId>#<membershipId>`.
fn view_key(customer: &CustomerId, membership: Option<MembershipId>) -> String {
    match membership {
        Some(m) => format!("MEMBER#{customer}#{m}"),
        None => format!("MEMBER#{customer}#"),
    }
}

impl MemberView for Memory {
    type Write = InMemoryWrite;

    async fn memberships(&self, customer: &CustomerId) -> Result<Vec<ViewEntry>, RepoError> {
        self.store
            .items_with_prefix(&view_key(customer, None))
            .into_iter()
            .map(|v| serde_json::from_value(v).map_err(|e| RepoError::corrupt("member view", e)))
            .collect()
    }

    async fn entry(
        &self,
        customer: &CustomerId,
        membership: MembershipId,
    ) -> Result<Option<ViewEntry>, RepoError> {
        let key = view_key(customer, Some(membership));
        self.store
            .item(&key)
            .map(|v| serde_json::from_value(v).map_err(|e| RepoError::corrupt(key, e)))
            .transpose()
    }

    fn put(&self, entry: &ViewEntry, read: Option<ViewStatus>) -> InMemoryWrite {
        let write = InMemoryWrite::put(
            view_key(&entry.customer_id, Some(entry.membership_id)),
            serde_json::to_value(entry).unwrap_or_default(),
        );
        match read {
            None => write.when(Condition::Absent),
            Some(status) => write.when(Condition::equals("/status", status.as_str())),
        }
    }
}

fn put(order: &Order) -> InMemoryWrite {
    InMemoryWrite::put(
        crate::dynamo::pk(order.order_id),
        serde_json::to_value(order).unwrap_or_default(),
    )
}
