//! The transactional outbox: a producer writes its state change and the event it causes
//! in one DynamoDB transaction; the table's stream feeds `outbox-relay`, which publishes
//! the event. The outbox item holds the whole PutEvents entry, bus aside.

use crate::events::{Entry, Event, EventType, ParseError};
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

/// Reads an outbox item (as [`put`] writes it) back into its event, as the relay reads
/// the item's stream image: only an `outbox` item with every entry attribute a non-empty
/// string is an event; its `source` and `detailType` name the type and `detail` is parsed
/// as an EventBridge detail. Beyond the relay, the item's `eventId`, `correlationId` and
/// key must agree with the detail, as `put` writes them.
pub fn event(item: &HashMap<String, AttributeValue>) -> Result<Event, ParseError> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) if !s.is_empty() => Ok(s.as_str()),
        _ => Err(ParseError::new(
            name,
            "is missing or not a non-empty string",
        )),
    };
    if text(attr::KIND)? != KIND {
        return Err(ParseError::new(attr::KIND, format!("is not '{KIND}'")));
    }
    let (source, detail_type) = (text(attr::SOURCE)?, text(attr::DETAIL_TYPE)?);
    let ty = EventType::lookup(source, detail_type).ok_or_else(|| {
        ParseError::new(
            attr::DETAIL_TYPE,
            format!("'{detail_type}' from '{source}' is not an Eventmart event"),
        )
    })?;
    let detail: serde_json::Value = serde_json::from_str(text(attr::DETAIL)?)
        .map_err(|e| ParseError::new(attr::DETAIL, format!("is not JSON: {e}")))?;
    let event = Event::from_detail(ty, &detail)?;
    let meta = event.metadata();
    let agrees = |name: &str, expected: String| {
        if text(name)? == expected {
            Ok(())
        } else {
            Err(ParseError::new(
                name,
                format!("differs from the detail's ({expected})"),
            ))
        }
    };
    agrees(attr::EVENT_ID, meta.event_id.to_string())?;
    agrees(attr::CORRELATION_ID, meta.correlation_id.to_string())?;
    if item.get(attr::PK) != Some(&AttributeValue::S(key(&event))) {
        return Err(ParseError::new(attr::PK, format!("is not {}", key(&event))));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed() -> Event {
        let text = include_str!("../../../events/eventbridge/OrderPlaced.json");
        Event::from_eventbridge(&serde_json::from_str(text).unwrap()).unwrap()
    }

    /// The item [`put`] writes.
    fn item(event: &Event) -> HashMap<String, AttributeValue> {
        put("OrdersTable", event, 1_700_000_000).put.unwrap().item
    }

    #[test]
    fn an_item_put_writes_reads_back_into_its_event() {
        let event = placed();
        let item = item(&event);
        assert_eq!(
            item[attr::EXPIRES_AT],
            AttributeValue::N((1_700_000_000 + RETENTION_SECS).to_string())
        );
        assert_eq!(self::event(&item), Ok(event));
    }

    #[test]
    fn an_item_the_relay_would_not_publish_is_not_an_event() {
        let event = placed();
        let field = |change: &dyn Fn(&mut HashMap<String, AttributeValue>)| {
            let mut item = item(&event);
            change(&mut item);
            self::event(&item).unwrap_err().field
        };
        let set = |name: &'static str, value: &'static str| {
            move |i: &mut HashMap<String, AttributeValue>| {
                i.insert(name.to_owned(), AttributeValue::S(value.to_owned()));
            }
        };
        assert_eq!(field(&set(attr::KIND, "order")), attr::KIND);
        assert_eq!(field(&|i| drop(i.remove(attr::SOURCE))), attr::SOURCE);
        assert_eq!(field(&set(attr::DETAIL_TYPE, "")), attr::DETAIL_TYPE);
        assert_eq!(
            field(&set(attr::DETAIL_TYPE, "OrderLost")),
            attr::DETAIL_TYPE
        );
        assert_eq!(field(&set(attr::DETAIL, "{")), attr::DETAIL);
        assert_eq!(field(&set(attr::DETAIL, "{}")), "detail");
        assert_eq!(field(&set(attr::EVENT_ID, "e-1")), attr::EVENT_ID);
        assert_eq!(
            field(&set(attr::CORRELATION_ID, "c-1")),
            attr::CORRELATION_ID
        );
        assert_eq!(field(&set(attr::PK, "OUTBOX#other")), attr::PK);
    }
}
