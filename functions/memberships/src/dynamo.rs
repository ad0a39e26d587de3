//! The memberships table in DynamoDB: `MEMBERSHIP#<id>`, `CUSTOMER#<customerId>` and
//! outbox items.

use crate::domain::{Membership, MembershipStatus};
use crate::ports::{MembershipRepository, RepoError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use eventmart_shared::dynamo::{Item, from_item, s, to_item};
use eventmart_shared::events::{CustomerId, Event, MembershipId, format_time};

/// The table's name in errors.
const TABLE: &str = "memberships";

/// Memberships in one DynamoDB table keyed by `pk`.
#[derive(Debug, Clone)]
pub struct DynamoMemberships {
    client: Client,
    table: String,
}

impl DynamoMemberships {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn read(&self, key: &str) -> Result<Option<Item>, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RepoError::sdk(TABLE, &e))?;
        Ok(out.item)
    }
}

pub fn membership_pk(id: MembershipId) -> String {
    format!("MEMBERSHIP#{id}")
}

pub fn customer_pk(id: &CustomerId) -> String {
    format!("CUSTOMER#{id}")
}

impl MembershipRepository for DynamoMemberships {
    type Write = TransactWriteItem;

    async fn get(&self, id: MembershipId) -> Result<Option<Membership>, RepoError> {
        let key = membership_pk(id);
        let Some(item) = self.read(&key).await? else {
            return Ok(None);
        };
        let value = from_item(&item)
            .ok_or_else(|| RepoError::corrupt(&key, "unsupported attribute type"))?;
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| RepoError::corrupt(key, e))
    }

    async fn active_membership(
        &self,
        customer: &CustomerId,
    ) -> Result<Option<MembershipId>, RepoError> {
        let key = customer_pk(customer);
        let Some(item) = self.read(&key).await? else {
            return Ok(None);
        };
        item.get("membershipId")
            .and_then(|v| v.as_s().ok())
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| {
                RepoError::corrupt(key, "membershipId is missing or not a membership id")
            })
    }

    fn insert(&self, membership: &Membership) -> TransactWriteItem {
        // Every attribute of a membership is a string.
        let mut item = to_item(membership);
        item.insert("pk".into(), s(membership_pk(membership.membership_id)));
        put_new(&self.table, item)
    }

    fn claim_customer(&self, membership: &Membership) -> TransactWriteItem {
        let item = Item::from([
            ("pk".to_owned(), s(customer_pk(&membership.customer_id))),
            (
                "membershipId".to_owned(),
                s(membership.membership_id.to_string()),
            ),
        ]);
        put_new(&self.table, item)
    }

    fn cancel(&self, membership: &Membership) -> TransactWriteItem {
        let reason = membership
            .cancel_reason
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(membership_pk(membership.membership_id)))
            .update_expression("SET #status = :to, updatedAt = :at, cancelReason = :reason")
            .condition_expression("#status = :active")
            // `status` is a DynamoDB reserved word.
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(membership.status.as_str()))
            .expression_attribute_values(":active", s(MembershipStatus::Active.as_str()))
            .expression_attribute_values(":at", s(format_time(membership.updated_at)))
            .expression_attribute_values(":reason", s(&reason))
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    fn release_customer(&self, membership: &Membership) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(customer_pk(&membership.customer_id)))
            .condition_expression("attribute_not_exists(pk) OR membershipId = :id")
            .expression_attribute_values(":id", s(membership.membership_id.to_string()))
            .build()
            .expect("table and key are set");
        TransactWriteItem::builder().delete(delete).build()
    }

    fn outbox(&self, event: &Event, now_secs: i64) -> TransactWriteItem {
        eventmart_shared::outbox::put(&self.table, event, now_secs)
    }
}

fn put_new(table: &str, item: Item) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .expect("table and item are set");
    TransactWriteItem::builder().put(put).build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use retryable::Retryable;

    #[tokio::test]
    async fn a_read_that_cannot_be_built_is_permanent() {
        let repo = DynamoMemberships::new(eventmart_tests::unbuildable_dynamodb(), "memberships");
        // The adapter's own list of codes retried both: they had no code.
        let e = repo.get(MembershipId::new()).await.unwrap_err();
        assert!(matches!(e, RepoError::Refused { .. }), "{e:?}");
        assert!(!e.is_retryable());
        let customer: CustomerId = "cust-1".parse().unwrap();
        let e = repo.active_membership(&customer).await.unwrap_err();
        assert!(!e.is_retryable(), "{e}");
    }

    #[test]
    fn a_membership_is_stored_as_strings() {
        let m = Membership::start(
            "cust-1".parse().unwrap(),
            "a@example.com".parse().unwrap(),
            eventmart_shared::events::Plan::Annual,
            chrono::Utc::now(),
        );
        let item = to_item(&m);
        assert!(item.values().all(|v| v.is_s()), "{item:?}");
        let back: Membership = serde_json::from_value(from_item(&item).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
