//! The memberships table in DynamoDB: `MEMBERSHIP#<id>`, `CUSTOMER#<customerId>` and
//! outbox items.

use crate::domain::{Membership, MembershipStatus};
use crate::ports::{MembershipRepository, RepoError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use eventmart_shared::events::{CustomerId, Event, MembershipId, format_time};
use serde_json::Value;
use std::collections::HashMap;

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

    async fn read(&self, key: &str) -> Result<Option<HashMap<String, AttributeValue>>, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
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
        // Every attribute of a membership is a string.
        let value: serde_json::Map<String, Value> = item
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), Value::String(v.as_s().ok()?.clone()))))
            .collect();
        serde_json::from_value(Value::Object(value))
            .map(Some)
            .map_err(|e| RepoError::Corrupt {
                key,
                reason: e.to_string(),
            })
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
            .ok_or_else(|| RepoError::Corrupt {
                key,
                reason: "membershipId is missing or not a membership id".into(),
            })
    }

    fn insert(&self, membership: &Membership) -> TransactWriteItem {
        let mut item: HashMap<String, AttributeValue> =
            match serde_json::to_value(membership).unwrap_or(Value::Null) {
                Value::Object(o) => o
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, s(v.as_str()?))))
                    .collect(),
                _ => HashMap::new(),
            };
        item.insert("pk".into(), s(&membership_pk(membership.membership_id)));
        put_new(&self.table, item)
    }

    fn claim_customer(&self, membership: &Membership) -> TransactWriteItem {
        let item = HashMap::from([
            ("pk".to_owned(), s(&customer_pk(&membership.customer_id))),
            (
                "membershipId".to_owned(),
                s(&membership.membership_id.to_string()),
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
            .key("pk", s(&membership_pk(membership.membership_id)))
            .update_expression("SET #status = :to, updatedAt = :at, cancelReason = :reason")
            .condition_expression("#status = :active")
            // `status` is a DynamoDB reserved word.
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(membership.status.as_str()))
            .expression_attribute_values(":active", s(MembershipStatus::Active.as_str()))
            .expression_attribute_values(":at", s(&format_time(membership.updated_at)))
            .expression_attribute_values(":reason", s(&reason))
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    fn release_customer(&self, membership: &Membership) -> TransactWriteItem {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(&customer_pk(&membership.customer_id)))
            .condition_expression("attribute_not_exists(pk) OR membershipId = :id")
            .expression_attribute_values(":id", s(&membership.membership_id.to_string()))
            .build()
            .expect("table and key are set");
        TransactWriteItem::builder().delete(delete).build()
    }

    fn outbox(&self, event: &Event, now_secs: i64) -> TransactWriteItem {
        eventmart_shared::outbox::put(&self.table, event, now_secs)
    }
}

fn put_new(table: &str, item: HashMap<String, AttributeValue>) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .expect("table and item are set");
    TransactWriteItem::builder().put(put).build()
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn unavailable<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> RepoError {
    // A missing table or a rejected request fails the same way on every retry.
    let retryable = !matches!(
        e.code(),
        Some("ValidationException" | "ResourceNotFoundException" | "AccessDeniedException")
    );
    RepoError::Unavailable {
        message: DisplayErrorContext(&e).to_string(),
        retryable,
    }
}
