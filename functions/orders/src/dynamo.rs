//! The orders table in DynamoDB (`ORDER#<orderId>` items and outbox items), and the
//! member view table (`customerId`, `membershipId`).

use crate::domain::{Order, OrderStatus};
use crate::members::{ViewEntry, ViewStatus};
use crate::ports::{MemberView, OrderRepository, RepoError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use eventmart_shared::dynamo::{from_item, s, to_item};
use eventmart_shared::events::{CustomerId, Event, MembershipId, OrderId, format_time};
use std::collections::HashMap;

/// The tables' names in errors.
const TABLE: &str = "orders";
const VIEW: &str = "member view";

/// Orders in one DynamoDB table keyed by `pk`, and the member view in another.
#[derive(Debug, Clone)]
pub struct DynamoOrders {
    client: Client,
    table: String,
    view_table: String,
}

impl DynamoOrders {
    pub fn new(client: Client, table: impl Into<String>, view_table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            view_table: view_table.into(),
        }
    }
}

fn view_entry(item: &HashMap<String, AttributeValue>) -> Result<ViewEntry, RepoError> {
    let key = || {
        format!(
            "{}#{}",
            item.get("customerId")
                .and_then(|v| v.as_s().ok())
                .map_or("?", |v| v),
            item.get("membershipId")
                .and_then(|v| v.as_s().ok())
                .map_or("?", |v| v)
        )
    };
    let value =
        from_item(item).ok_or_else(|| RepoError::corrupt(key(), "unsupported attribute type"))?;
    serde_json::from_value(value).map_err(|e| RepoError::corrupt(key(), e))
}

impl MemberView for DynamoOrders {
    type Write = TransactWriteItem;

    async fn memberships(&self, customer: &CustomerId) -> Result<Vec<ViewEntry>, RepoError> {
        // A customer has a handful of memberships over a lifetime: one page holds them;
        // the paginator reads on if not.
        let pages: Vec<_> = self
            .client
            .query()
            .table_name(&self.view_table)
            .key_condition_expression("customerId = :c")
            .expression_attribute_values(":c", s(customer.to_string()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<_, _>>()
            .await
            .map_err(|e| RepoError::sdk(VIEW, &e))?;
        pages.iter().map(view_entry).collect()
    }

    async fn entry(
        &self,
        customer: &CustomerId,
        membership: MembershipId,
    ) -> Result<Option<ViewEntry>, RepoError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.view_table)
            .key("customerId", s(customer.to_string()))
            .key("membershipId", s(membership.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RepoError::sdk(VIEW, &e))?;
        out.item.as_ref().map(view_entry).transpose()
    }

    fn put(&self, entry: &ViewEntry, read: Option<ViewStatus>) -> TransactWriteItem {
        let put = Put::builder()
            .table_name(&self.view_table)
            .set_item(Some(to_item(entry)));
        let put = match read {
            None => put.condition_expression("attribute_not_exists(customerId)"),
            Some(status) => put
                .condition_expression("#status = :read")
                // `status` is a DynamoDB reserved word.
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":read", s(status.as_str())),
        };
        let put = put.build().expect("table and item are set");
        TransactWriteItem::builder().put(put).build()
    }
}

pub fn pk(id: OrderId) -> String {
    format!("ORDER#{id}")
}

impl OrderRepository for DynamoOrders {
    type Write = TransactWriteItem;

    async fn get(&self, id: OrderId) -> Result<Option<Order>, RepoError> {
        let key = pk(id);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(&key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RepoError::sdk(TABLE, &e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let value = from_item(&item)
            .ok_or_else(|| RepoError::corrupt(&key, "unsupported attribute type"))?;
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| RepoError::corrupt(key, e))
    }

    fn insert(&self, order: &Order) -> TransactWriteItem {
        let mut item = to_item(order);
        item.insert("pk".into(), s(pk(order.order_id)));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("table and item are set");
        TransactWriteItem::builder().put(put).build()
    }

    fn transition(&self, order: &Order, from: OrderStatus) -> TransactWriteItem {
        let mut set = "SET #status = :to, updatedAt = :at".to_owned();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(pk(order.order_id)))
            .condition_expression("#status = :from")
            // `status` is a DynamoDB reserved word.
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", s(order.status.as_str()))
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":at", s(format_time(order.updated_at)));
        if let Some(reason) = &order.cancel_reason {
            set.push_str(", cancelReason = :reason");
            update = update.expression_attribute_values(":reason", s(reason.to_string()));
        }
        let update = update
            .update_expression(set)
            .build()
            .expect("table, key and expression are set");
        TransactWriteItem::builder().update(update).build()
    }

    fn outbox(&self, event: &Event, now_secs: i64) -> TransactWriteItem {
        eventmart_shared::outbox::put(&self.table, event, now_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use retryable::Retryable;

    #[tokio::test]
    async fn a_read_that_cannot_be_built_is_permanent() {
        let repo = DynamoOrders::new(eventmart_tests::unbuildable_dynamodb(), "orders", "view");
        let e = repo.get(OrderId::new()).await.unwrap_err();
        // The adapter's own list of codes retried it: it had no code.
        assert!(matches!(e, RepoError::Refused { .. }), "{e:?}");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("cannot be built"), "{e}");
    }
}
