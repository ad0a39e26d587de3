//! The orders table in DynamoDB: `ORDER#<orderId>` items and outbox items.

use crate::domain::{Order, OrderStatus};
use crate::ports::{OrderRepository, RepoError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use eventmart_shared::events::{Event, OrderId};
use serde_json::Value;
use std::collections::HashMap;

/// Orders in one DynamoDB table keyed by `pk`.
#[derive(Debug, Clone)]
pub struct DynamoOrders {
    client: Client,
    table: String,
}

impl DynamoOrders {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
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
            .key("pk", AttributeValue::S(key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let corrupt = |reason: String| RepoError::Corrupt {
            key: key.clone(),
            reason,
        };
        let value = from_item(&item).ok_or_else(|| corrupt("unsupported attribute type".into()))?;
        serde_json::from_value(value)
            .map(Some)
            .map_err(|e| corrupt(e.to_string()))
    }

    fn insert(&self, order: &Order) -> TransactWriteItem {
        let mut item = to_item(order);
        item.insert("pk".into(), AttributeValue::S(pk(order.order_id)));
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
            .key("pk", AttributeValue::S(pk(order.order_id)))
            .condition_expression("#status = :from")
            // `status` is a DynamoDB reserved word.
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", AttributeValue::S(order.status.as_str().into()))
            .expression_attribute_values(":from", AttributeValue::S(from.as_str().into()))
            .expression_attribute_values(
                ":at",
                AttributeValue::S(eventmart_shared::events::format_time(order.updated_at)),
            );
        if let Some(reason) = &order.cancel_reason {
            set.push_str(", cancelReason = :reason");
            update = update
                .expression_attribute_values(":reason", AttributeValue::S(reason.to_string()));
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

/// An order as DynamoDB attributes: its JSON, with maps and lists kept structured so
/// that the table stays readable in the console.
fn to_item(order: &Order) -> HashMap<String, AttributeValue> {
    match to_attr(&serde_json::to_value(order).unwrap_or(Value::Null)) {
        AttributeValue::M(m) => m,
        _ => HashMap::new(),
    }
}

fn to_attr(v: &Value) -> AttributeValue {
    match v {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(a) => AttributeValue::L(a.iter().map(to_attr).collect()),
        Value::Object(o) => {
            AttributeValue::M(o.iter().map(|(k, v)| (k.clone(), to_attr(v))).collect())
        }
    }
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Value> {
    item.iter()
        .map(|(k, v)| Some((k.clone(), from_attr(v)?)))
        .collect::<Option<serde_json::Map<_, _>>>()
        .map(Value::Object)
}

fn from_attr(a: &AttributeValue) -> Option<Value> {
    Some(match a {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => Value::Number(n.parse().ok()?),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(l) => Value::Array(l.iter().map(from_attr).collect::<Option<_>>()?),
        AttributeValue::M(m) => from_item(m)?,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip() {
        let v =
            serde_json::json!({"a": "x", "n": 9007199254740991u64, "l": [{"b": true}], "z": null});
        let AttributeValue::M(m) = to_attr(&v) else {
            panic!("an object maps to M")
        };
        assert_eq!(from_item(&m), Some(v));
    }
}
