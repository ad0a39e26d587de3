//! The DynamoDB adapter: shipments and outbox items in FULFILLMENT_TABLE, idempotency
//! records in IDEMPOTENCY_TABLE, all committed through the shared [`DynamoStore`].

use crate::domain::{Change, Recipient, Shipment, State, Status};
use crate::ports::{Ledger, LedgerError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use chrono::{DateTime, Utc};
use dynamodb_idempotency::{Claim, DynamoStore, EpochMillis, Record, Store, StoreError};
use eventmart_shared::dynamo::{Item, s};
use eventmart_shared::events::{OrderId, format_time};
use eventmart_shared::outbox;

/// Attribute names of a shipment item (docs/services.md).
pub mod attr {
    pub const PK: &str = "pk";
    pub const ORDER_ID: &str = "orderId";
    pub const CUSTOMER_ID: &str = "customerId";
    pub const EMAIL: &str = "email";
    pub const STATUS: &str = "status";
    pub const TOMBSTONE: &str = "tombstone";
    pub const UPDATED_AT: &str = "updatedAt";
}

/// `SHIPMENT#<orderId>`.
pub fn shipment_key(order_id: OrderId) -> String {
    format!("SHIPMENT#{order_id}")
}

#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
    store: DynamoStore,
}

impl DynamoLedger {
    pub fn new(
        client: Client,
        fulfillment_table: impl Into<String>,
        idempotency_table: impl Into<String>,
    ) -> Self {
        Self {
            store: DynamoStore::new(client.clone(), idempotency_table),
            client,
            table: fulfillment_table.into(),
        }
    }

    fn put(&self, shipment: &Shipment, expected: Option<Status>) -> TransactWriteItem {
        let mut put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(shipment)))
            .expression_attribute_names("#pk", attr::PK);
        put = match expected {
            None => put.condition_expression("attribute_not_exists(#pk)"),
            Some(status) => put
                .condition_expression("attribute_exists(#pk) AND #status = :read")
                .expression_attribute_names("#status", attr::STATUS)
                .expression_attribute_values(":read", s(status.as_str())),
        };
        TransactWriteItem::builder()
            .put(put.build().expect("table and item are set"))
            .build()
    }
}

impl Ledger for DynamoLedger {
    async fn shipment(&self, order_id: OrderId) -> Result<Option<Shipment>, LedgerError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, s(shipment_key(order_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(&e))?;
        out.item.map(|item| from_item(order_id, &item)).transpose()
    }

    fn writes(&self, changes: Vec<Change>, now: DateTime<Utc>) -> Vec<TransactWriteItem> {
        changes
            .into_iter()
            .map(|c| match c {
                Change::Put { shipment, expected } => self.put(&shipment, expected),
                Change::Emit(event) => outbox::put(&self.table, &event, now.timestamp()),
            })
            .collect()
    }
}

/// The idempotency records live in their own table; the shared store commits them.
impl Store for DynamoLedger {
    type Write = TransactWriteItem;

    async fn claim(&self, record: &Record, now: EpochMillis) -> Result<Claim, StoreError> {
        self.store.claim(record, now).await
    }

    async fn complete(&self, record: &Record) -> Result<(), StoreError> {
        self.store.complete(record).await
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        self.store.release(key).await
    }

    async fn write(&self, writes: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        self.store.write(writes).await
    }

    async fn commit(
        &self,
        record: &Record,
        writes: Vec<TransactWriteItem>,
        now: EpochMillis,
    ) -> Result<Claim, StoreError> {
        self.store.commit(record, writes, now).await
    }
}

/// An SDK failure in the one classification every adapter shares.
fn sdk_error<E>(e: &SdkError<E, HttpResponse>) -> LedgerError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = retryable::sdk::describe(e);
    if retryable::sdk::is_retryable(e) {
        LedgerError::Unavailable(message)
    } else {
        LedgerError::Refused(message)
    }
}

pub fn to_item(shipment: &Shipment) -> Item {
    let mut item = Item::from([
        (attr::PK.to_owned(), s(shipment_key(shipment.order_id))),
        (attr::ORDER_ID.to_owned(), s(shipment.order_id.to_string())),
        (attr::STATUS.to_owned(), s(shipment.state.status().as_str())),
        (
            attr::TOMBSTONE.to_owned(),
            AttributeValue::Bool(shipment.state.is_tombstone()),
        ),
        (
            attr::UPDATED_AT.to_owned(),
            s(format_time(shipment.updated_at)),
        ),
    ]);
    if let Some(r) = shipment.state.recipient() {
        item.insert(attr::CUSTOMER_ID.to_owned(), s(r.customer_id.to_string()));
        item.insert(attr::EMAIL.to_owned(), s(r.email.as_str()));
    }
    item
}

/// Reads a shipment item; one that breaks the layout is reported, never guessed at.
pub fn from_item(order_id: OrderId, item: &Item) -> Result<Shipment, LedgerError> {
    let corrupt = |reason: String| LedgerError::Corrupt { order_id, reason };
    let get = |a: &str| item.get(a).and_then(|v| v.as_s().ok());
    let status = get(attr::STATUS)
        .and_then(|v| Status::parse(v))
        .ok_or_else(|| corrupt(format!("`{}` is missing or unknown", attr::STATUS)))?;
    let updated_at = get(attr::UPDATED_AT)
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| corrupt(format!("`{}` is missing or malformed", attr::UPDATED_AT)))?;
    let recipient = match (get(attr::CUSTOMER_ID), get(attr::EMAIL)) {
        (Some(c), Some(e)) => Some(Recipient {
            customer_id: c
                .parse()
                .map_err(|_| corrupt(format!("`{}` is malformed", attr::CUSTOMER_ID)))?,
            email: e
                .parse()
                .map_err(|_| corrupt(format!("`{}` is malformed", attr::EMAIL)))?,
        }),
        _ => None,
    };
    let tombstone = matches!(item.get(attr::TOMBSTONE), Some(AttributeValue::Bool(true)));
    let needs_recipient = || corrupt(format!("a {} shipment has no recipient", status.as_str()));
    let state = match status {
        Status::Preparing => State::Preparing(recipient.ok_or_else(needs_recipient)?),
        Status::Shipped => State::Shipped(recipient.ok_or_else(needs_recipient)?),
        Status::Canceled => State::Canceled {
            recipient,
            tombstone,
        },
    };
    Ok(Shipment {
        order_id,
        state,
        updated_at,
    })
}
