//! The DynamoDB adapter of [`MessageLog`] over the notifications table (key `pk`).

use crate::domain::{FulfillmentOutcome, MessageRecord};
use crate::ports::{LogError, MessageLog};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use eventmart_shared::dynamo::{Item, s};
use eventmart_shared::events::{EventId, OrderId, format_time};
use retryable::sdk;

pub fn message_key(event_id: &EventId) -> String {
    format!("MESSAGE#{event_id}")
}

pub fn outcome_key(order_id: &OrderId) -> String {
    format!("OUTCOME#{order_id}")
}

#[derive(Debug, Clone)]
pub struct DynamoMessageLog {
    client: Client,
    table: String,
}

impl DynamoMessageLog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

/// The class comes from the one SDK classification: throttling, 5xx and the network are
/// transient; a request DynamoDB refuses (malformed, a missing table or permission) is not.
fn log_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: &SdkError<E, HttpResponse>,
) -> LogError {
    let message = sdk::describe(e);
    if sdk::is_retryable(e) {
        LogError::Unavailable(message)
    } else {
        LogError::Invalid(message)
    }
}

impl MessageLog for DynamoMessageLog {
    async fn record_message(&self, r: &MessageRecord) -> Result<(), LogError> {
        let item = Item::from([
            ("pk".to_owned(), s(message_key(&r.event_id))),
            ("eventId".to_owned(), s(r.event_id.to_string())),
            ("template".to_owned(), s(r.template)),
            ("recipientHash".to_owned(), s(&r.recipient_hash)),
            ("sesMessageId".to_owned(), s(&r.ses_message_id)),
            ("sentAt".to_owned(), s(&r.sent_at)),
            ("correlationId".to_owned(), s(r.correlation_id.to_string())),
        ]);
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Err(LogError::AlreadyRecorded(r.event_id))
            }
            Err(e) => Err(log_error(&e)),
        }
    }

    async fn message_recorded(&self, event_id: &EventId) -> Result<bool, LogError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(message_key(event_id)))
            .projection_expression("pk")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| log_error(&e))?;
        Ok(out.item.is_some())
    }

    async fn put_outcome(
        &self,
        order_id: &OrderId,
        outcome: FulfillmentOutcome,
        event_id: &EventId,
    ) -> Result<(), LogError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(outcome_key(order_id)))
            .item("orderId", s(order_id.to_string()))
            .item("outcome", s(outcome.as_str()))
            .item("eventId", s(event_id.to_string()))
            .item("updatedAt", s(format_time(chrono::Utc::now())))
            .send()
            .await
            .map_err(|e| log_error(&e))?;
        Ok(())
    }

    async fn get_outcome(
        &self,
        order_id: &OrderId,
    ) -> Result<Option<FulfillmentOutcome>, LogError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(outcome_key(order_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| log_error(&e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let raw = item.get("outcome").and_then(|v| v.as_s().ok());
        raw.and_then(|v| FulfillmentOutcome::parse(v))
            .map(Some)
            .ok_or_else(|| {
                LogError::Invalid(format!(
                    "item {} has no valid `outcome` (CANCELED or REJECTED)",
                    outcome_key(order_id)
                ))
            })
    }
}
