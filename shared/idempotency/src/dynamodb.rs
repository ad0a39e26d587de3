use super::{Claim, EpochMillis, Record, Status, Store, StoreError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use std::collections::HashMap;

/// Attribute names, the same as Powertools' so that tooling reads both alike.
pub mod attr {
    pub const KEY: &str = "id";
    pub const EXPIRY: &str = "expiration";
    pub const IN_PROGRESS_EXPIRY: &str = "in_progress_expiration";
    pub const STATUS: &str = "status";
    pub const DATA: &str = "data";
    pub const VALIDATION: &str = "validation";
}

/// Absent, expired, or an INPROGRESS claim past its deadline: the record may be (re)written.
const FREE: &str = "attribute_not_exists(#id) OR #exp < :now \
    OR (#status = :inprogress AND attribute_exists(#ipexp) AND #ipexp < :now_ms)";

/// DynamoDB transactions hold at most 100 items; one is the record.
pub const MAX_WRITES: usize = 99;

/// Idempotency records in one DynamoDB table (partition key `id`, TTL on `expiration`).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn put(&self, record: &Record, now: EpochMillis) -> Put {
        let values = HashMap::from([
            (":now".to_owned(), n(now / 1000)),
            (":now_ms".to_owned(), n(now)),
            (":inprogress".to_owned(), s(Status::InProgress.as_str())),
        ]);
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression(FREE)
            .set_expression_attribute_names(Some(names()))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("table, item and condition are set")
    }

    /// Only where a condition failed without returning the item (not seen from DynamoDB,
    /// kept so that a store that omits it still answers correctly, at one more request).
    async fn read(&self, key: &str) -> Result<Claim, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::KEY, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(classify)?;
        match out.item {
            Some(item) => Ok(Claim::Exists(from_item(&item)?)),
            None => Err(StoreError::transient(format!(
                "record `{key}` changed during the claim"
            ))),
        }
    }
}

impl Store for DynamoStore {
    type Write = TransactWriteItem;

    async fn claim(&self, record: &Record, now: EpochMillis) -> Result<Claim, StoreError> {
        let put = self.put(record, now);
        let result = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .set_condition_expression(put.condition_expression)
            .set_expression_attribute_names(put.expression_attribute_names)
            .set_expression_attribute_values(put.expression_attribute_values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) = e.err() else {
                    unreachable!("checked above")
                };
                match c.item() {
                    Some(item) => Ok(Claim::Exists(from_item(item)?)),
                    None => self.read(&record.key).await,
                }
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn complete(&self, record: &Record) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(attr::KEY, s(&record.key))
            .update_expression("SET #status = :status, #data = :data, #exp = :exp REMOVE #ipexp")
            .set_expression_attribute_names(Some(names_without_key()))
            .expression_attribute_values(":status", s(Status::Completed.as_str()))
            .expression_attribute_values(":data", s(record.data.as_deref().unwrap_or("null")))
            .expression_attribute_values(":exp", n(record.expiry))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(attr::KEY, s(key))
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn write(&self, writes: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        if writes.len() > MAX_WRITES + 1 {
            return Err(StoreError::permanent(format!(
                "{} writes exceed a transaction's 100",
                writes.len()
            )));
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(transaction_error(e)),
        }
    }

    async fn commit(
        &self,
        record: &Record,
        writes: Vec<TransactWriteItem>,
        now: EpochMillis,
    ) -> Result<Claim, StoreError> {
        if writes.len() > MAX_WRITES {
            return Err(StoreError::permanent(format!(
                "{} writes exceed the {MAX_WRITES} a transaction holds beside the record",
                writes.len()
            )));
        }
        let mut items = Vec::with_capacity(writes.len() + 1);
        items.push(
            TransactWriteItem::builder()
                .put(self.put(record, now))
                .build(),
        );
        items.extend(writes);
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(SdkError::ServiceError(e)) if e.err().is_transaction_canceled_exception() => {
                let TransactWriteItemsError::TransactionCanceledException(c) = e.err() else {
                    unreachable!("checked above")
                };
                let reasons = c.cancellation_reasons();
                let ours = reasons.first();
                if ours.and_then(|r| r.code()) == Some("ConditionalCheckFailed") {
                    return match ours.and_then(|r| r.item()) {
                        Some(item) => Ok(Claim::Exists(from_item(item)?)),
                        None => self.read(&record.key).await,
                    };
                }
                Err(transaction_error(SdkError::ServiceError(e)))
            }
            Err(e) => Err(classify(e)),
        }
    }
}

/// The reasons a transaction was canceled, in the order of its items.
pub fn cancellation_codes<R>(e: &SdkError<TransactWriteItemsError, R>) -> Vec<String> {
    match e {
        SdkError::ServiceError(se) => match se.err() {
            TransactWriteItemsError::TransactionCanceledException(c) => c
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
            _ => vec![],
        },
        _ => vec![],
    }
}

fn transaction_error(
    e: SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    let codes = cancellation_codes(&e);
    if codes.is_empty() {
        return classify(e);
    }
    // A business condition or a conflicting transaction: the handler's reads are stale,
    // and a retry recomputes them.
    StoreError::transient(format!("transaction canceled: [{}]", codes.join(", ")))
        .with_conditions_failed(
            codes
                .iter()
                .enumerate()
                .filter(|(_, c)| *c == "ConditionalCheckFailed")
                .map(|(i, _)| i)
                .collect(),
        )
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn names_without_key() -> HashMap<String, String> {
    HashMap::from([
        ("#exp".to_owned(), attr::EXPIRY.to_owned()),
        ("#ipexp".to_owned(), attr::IN_PROGRESS_EXPIRY.to_owned()),
        ("#status".to_owned(), attr::STATUS.to_owned()),
        ("#data".to_owned(), attr::DATA.to_owned()),
    ])
}

fn names() -> HashMap<String, String> {
    let mut m = names_without_key();
    m.remove("#data");
    m.insert("#id".to_owned(), attr::KEY.to_owned());
    m
}

fn to_item(r: &Record) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        (attr::KEY.to_owned(), s(&r.key)),
        (attr::STATUS.to_owned(), s(r.status.as_str())),
        (attr::EXPIRY.to_owned(), n(r.expiry)),
    ]);
    if let Some(t) = r.in_progress_expiry {
        item.insert(attr::IN_PROGRESS_EXPIRY.to_owned(), n(t));
    }
    if let Some(d) = &r.data {
        item.insert(attr::DATA.to_owned(), s(d));
    }
    if let Some(h) = &r.payload_hash {
        item.insert(attr::VALIDATION.to_owned(), s(h));
    }
    item
}

/// Reads a record back; a malformed one is a permanent error naming the attribute.
pub fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Record, StoreError> {
    let bad =
        |a: &str| StoreError::permanent(format!("record attribute `{a}` is missing or malformed"));
    let get_s = |a: &str| item.get(a).and_then(|v| v.as_s().ok()).cloned();
    let get_n = |a: &str| {
        item.get(a)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    Ok(Record {
        key: get_s(attr::KEY).ok_or_else(|| bad(attr::KEY))?,
        status: get_s(attr::STATUS)
            .as_deref()
            .and_then(Status::parse)
            .ok_or_else(|| bad(attr::STATUS))?,
        expiry: get_n(attr::EXPIRY).ok_or_else(|| bad(attr::EXPIRY))?,
        in_progress_expiry: get_n(attr::IN_PROGRESS_EXPIRY),
        data: get_s(attr::DATA),
        payload_hash: get_s(attr::VALIDATION),
    })
}

/// One classification for every SDK call of the store: [`retryable::sdk::is_retryable`].
pub(crate) fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    e: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    StoreError::sdk(&e)
}
