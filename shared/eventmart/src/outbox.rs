//! The transactional outbox: a producer writes its state change and the event it causes
//! in one DynamoDB transaction; the table's stream feeds `outbox-relay`, which publishes
//! the event. The outbox item holds the whole PutEvents entry, bus aside.

use crate::events::{Entry, Event};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use std::collections::HashMap;

/// Attribute names of an outbox item.
pub mod attr {
    pub const PK: &str = "pk";
    /// `"outbox"` on outbox items only: the relay's stream filter keys on it.
    pub const KIND: &str = "kind";
    pub const SOURCE: &str = "source";
    pub const DETAIL_TYPE: &str = "detailType";
    pub const DETAIL: &str = "detail";
    pub const EVENT_ID: &str = "eventId";
    pub const CORRELATION_ID: &str = "correlationId";
    /// TTL: outbox items are only needed until the stream has delivered them.
    pub const EXPIRES_AT: &str = "expiresAt";
}

pub const KIND: &str = "outbox";

/// How long an outbox item is kept: longer than a stream keeps records (24 hours).
pub const RETENTION_SECS: i64 = 7 * 24 * 3600;

/// The outbox item's key for an event.
pub fn key(event: &Event) -> String {
    format!("OUTBOX#{}", event.metadata().event_id)
}

/// The `Put` of an event's outbox item, for the producer's transaction. The condition
/// keeps a re-sent event from being written (and so published) twice.
pub fn put(table: &str, event: &Event, now_secs: i64) -> TransactWriteItem {
    let Entry {
        source,
        detail_type,
        detail,
    } = event.to_entry();
    let meta = event.metadata();
    let item = HashMap::from([
        (attr::PK.to_owned(), AttributeValue::S(key(event))),
        (attr::KIND.to_owned(), AttributeValue::S(KIND.to_owned())),
        (
            attr::SOURCE.to_owned(),
            AttributeValue::S(source.to_owned()),
        ),
        (
            attr::DETAIL_TYPE.to_owned(),
            AttributeValue::S(detail_type.to_owned()),
        ),
        (attr::DETAIL.to_owned(), AttributeValue::S(detail)),
        (
            attr::EVENT_ID.to_owned(),
            AttributeValue::S(meta.event_id.to_string()),
        ),
        (
            attr::CORRELATION_ID.to_owned(),
            AttributeValue::S(meta.correlation_id.to_string()),
        ),
        (
            attr::EXPIRES_AT.to_owned(),
            AttributeValue::N((now_secs + RETENTION_SECS).to_string()),
        ),
    ]);
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .expect("table and item are set");
    TransactWriteItem::builder().put(put).build()
}
