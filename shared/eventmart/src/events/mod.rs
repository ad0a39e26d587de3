//! The event contract: every event on the bus, its envelope, its `source` and
//! `detail-type`, and parsing from an EventBridge event with precise errors.

mod ids;
mod types;

pub use ids::*;
pub use types::*;

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The envelope's schema version this code writes and reads.
pub const EVENT_VERSION: u32 = 1;

/// Prefix of every Eventmart `source`.
pub const SOURCE_PREFIX: &str = "eventmart.";

/// The service that publishes an event: the `source` is `eventmart.<service>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Orders,
    Memberships,
    Fulfillment,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Orders, Source::Memberships, Source::Fulfillment];

    pub fn as_str(self) -> &'static str {
        match self {
            Source::Orders => "eventmart.orders",
            Source::Memberships => "eventmart.memberships",
            Source::Fulfillment => "eventmart.fulfillment",
        }
    }
}

/// Every event type, with its `detail-type` and `source`: the one place that maps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    OrderPlaced,
    OrderCanceled,
    MembershipSignedUp,
    MembershipCanceled,
    FulfillmentStarted,
    FulfillmentCanceled,
    FulfillmentCancelRejected,
    OrderShipped,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::OrderPlaced,
        EventType::OrderCanceled,
        EventType::MembershipSignedUp,
        EventType::MembershipCanceled,
        EventType::FulfillmentStarted,
        EventType::FulfillmentCanceled,
        EventType::FulfillmentCancelRejected,
        EventType::OrderShipped,
    ];

    /// The EventBridge `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            EventType::OrderPlaced => "OrderPlaced",
            EventType::OrderCanceled => "OrderCanceled",
            EventType::MembershipSignedUp => "MembershipSignedUp",
            EventType::MembershipCanceled => "MembershipCanceled",
            EventType::FulfillmentStarted => "FulfillmentStarted",
            EventType::FulfillmentCanceled => "FulfillmentCanceled",
            EventType::FulfillmentCancelRejected => "FulfillmentCancelRejected",
            EventType::OrderShipped => "OrderShipped",
        }
    }

    /// The EventBridge `source`.
    pub fn source(self) -> Source {
        match self {
            EventType::OrderPlaced | EventType::OrderCanceled => Source::Orders,
            EventType::MembershipSignedUp | EventType::MembershipCanceled => Source::Memberships,
            EventType::FulfillmentStarted
            | EventType::FulfillmentCanceled
            | EventType::FulfillmentCancelRejected
            | EventType::OrderShipped => Source::Fulfillment,
        }
    }

    /// The event type that a `source` and `detail-type` name, if any.
    pub fn lookup(source: &str, detail_type: &str) -> Option<EventType> {
        Self::ALL
            .into_iter()
            .find(|t| t.source().as_str() == source && t.detail_type() == detail_type)
    }
}

/// The `data` of one event type.
pub trait EventData: Serialize + DeserializeOwned + JsonSchema + Clone + Validate {
    const TYPE: EventType;
}

/// `detail.metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Assigned once by the producer; consumers de-duplicate on it.
    pub event_id: EventId,
    /// Version of the `data` schema; this code reads and writes version 1.
    #[schemars(range(min = 1, max = 1))]
    pub event_version: u32,
    /// When the business fact happened (RFC 3339).
    #[serde(with = "rfc3339")]
    #[schemars(with = "String", extend("format" = "date-time"))]
    pub occurred_at: DateTime<Utc>,
    /// Shared by every event that one request caused.
    pub correlation_id: CorrelationId,
}

impl Metadata {
    /// Metadata for a new event in the given correlation.
    pub fn new(correlation_id: CorrelationId, occurred_at: DateTime<Utc>) -> Self {
        Self {
            event_id: EventId::new(),
            event_version: EVENT_VERSION,
            // Millisecond precision: what every consumer's clock and JSON parser agree on.
            occurred_at: rfc3339::truncate(occurred_at),
            correlation_id,
        }
    }
}

/// `detail`: metadata plus the event's data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope<T> {
    pub metadata: Metadata,
    pub data: T,
}

impl<T: EventData> Envelope<T> {
    pub fn new(metadata: Metadata, data: T) -> Self {
        Self { metadata, data }
    }

    /// The fields of a PutEvents entry, bus name aside.
    pub fn to_entry(&self) -> Entry {
        Entry {
            source: T::TYPE.source().as_str(),
            detail_type: T::TYPE.detail_type(),
            // Serializing plain data structs with string keys cannot fail.
            detail: serde_json::to_string(self).unwrap_or_default(),
        }
    }
}

/// What a producer hands to PutEvents for one event (the bus comes from configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Entry {
    pub source: &'static str,
    pub detail_type: &'static str,
    pub detail: String,
}

/// Any Eventmart event, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    OrderPlaced(Envelope<OrderPlaced>),
    OrderCanceled(Envelope<OrderCanceled>),
    MembershipSignedUp(Envelope<MembershipSignedUp>),
    MembershipCanceled(Envelope<MembershipCanceled>),
    FulfillmentStarted(Envelope<FulfillmentStarted>),
    FulfillmentCanceled(Envelope<FulfillmentCanceled>),
    FulfillmentCancelRejected(Envelope<FulfillmentCancelRejected>),
    OrderShipped(Envelope<OrderShipped>),
}

macro_rules! each_event {
    ($self:expr, $env:ident => $body:expr) => {
        match $self {
            Event::OrderPlaced($env) => $body,
            Event::OrderCanceled($env) => $body,
            Event::MembershipSignedUp($env) => $body,
            Event::MembershipCanceled($env) => $body,
            Event::FulfillmentStarted($env) => $body,
            Event::FulfillmentCanceled($env) => $body,
            Event::FulfillmentCancelRejected($env) => $body,
            Event::OrderShipped($env) => $body,
        }
    };
}

impl Event {
    pub fn metadata(&self) -> &Metadata {
        each_event!(self, e => &e.metadata)
    }

    pub fn event_type(&self) -> EventType {
        fn ty<T: EventData>(_: &Envelope<T>) -> EventType {
            T::TYPE
        }
        each_event!(self, e => ty(e))
    }

    pub fn to_entry(&self) -> Entry {
        each_event!(self, e => e.to_entry())
    }

    /// Parses an EventBridge event (the JSON Lambda receives from a rule).
    pub fn from_eventbridge(event: &serde_json::Value) -> Result<Event, ParseError> {
        let field = |name: &str| {
            event
                .get(name)
                .ok_or_else(|| ParseError::new(name, "is missing"))?
                .as_str()
                .ok_or_else(|| ParseError::new(name, "must be a string"))
        };
        let source = field("source")?;
        let detail_type = field("detail-type")?;
        let ty = EventType::lookup(source, detail_type).ok_or_else(|| {
            ParseError::new(
                "detail-type",
                format!("'{detail_type}' from '{source}' is not an Eventmart event"),
            )
        })?;
        let detail = event
            .get("detail")
            .ok_or_else(|| ParseError::new("detail", "is missing"))?;
        Self::from_detail(ty, detail)
    }

    /// Parses the `detail` of an event whose type is already known.
    pub fn from_detail(ty: EventType, detail: &serde_json::Value) -> Result<Event, ParseError> {
        fn parse<T: EventData>(detail: &serde_json::Value) -> Result<Envelope<T>, ParseError> {
            let env: Envelope<T> = serde_path_to_error::deserialize(detail).map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." {
                    "detail".to_owned()
                } else {
                    format!("detail.{path}")
                };
                ParseError::new(field, strip_position(&e.into_inner().to_string()))
            })?;
            if env.metadata.event_version != EVENT_VERSION {
                return Err(ParseError::new(
                    "detail.metadata.eventVersion",
                    format!(
                        "version {} is not supported (expected {EVENT_VERSION})",
                        env.metadata.event_version
                    ),
                ));
            }
            env.data
                .validate()
                .map_err(|(f, why)| ParseError::new(format!("detail.data.{f}"), why))?;
            Ok(env)
        }
        Ok(match ty {
            EventType::OrderPlaced => Event::OrderPlaced(parse(detail)?),
            EventType::OrderCanceled => Event::OrderCanceled(parse(detail)?),
            EventType::MembershipSignedUp => Event::MembershipSignedUp(parse(detail)?),
            EventType::MembershipCanceled => Event::MembershipCanceled(parse(detail)?),
            EventType::FulfillmentStarted => Event::FulfillmentStarted(parse(detail)?),
            EventType::FulfillmentCanceled => Event::FulfillmentCanceled(parse(detail)?),
            EventType::FulfillmentCancelRejected => {
                Event::FulfillmentCancelRejected(parse(detail)?)
            }
            EventType::OrderShipped => Event::OrderShipped(parse(detail)?),
        })
    }
}

/// serde_json appends " at line L column C", which says nothing about a JSON value.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// Invariants across fields that serde alone cannot check.
pub trait Validate {
    /// `Err((field path inside data, why))`.
    fn validate(&self) -> Result<(), (String, String)> {
        Ok(())
    }
}

/// An event that could not be parsed. Always permanent: the same bytes fail the same way,
/// so the event belongs in a dead-letter queue, not in a retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event: `{field}` {reason}")]
pub struct ParseError {
    /// Dotted path of the offending field, e.g. `detail.data.items[0].quantity`.
    pub field: String,
    pub reason: String,
}

impl ParseError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A retry cannot help a malformed event.
impl retryable::Retryable for ParseError {
    fn is_retryable(&self) -> bool {
        false
    }
}

/// RFC 3339 with millisecond precision and a `Z` offset.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Timelike, Utc};
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn truncate(t: DateTime<Utc>) -> DateTime<Utc> {
        let ms = t.nanosecond() / 1_000_000 * 1_000_000;
        t.with_nanosecond(ms).unwrap_or(t)
    }

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                D::Error::custom("must be an RFC 3339 timestamp like 2026-01-31T12:00:00Z")
            })
    }
}

/// Formats a time the way every event does.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The JSON Schema (draft 2020-12) of an event type's `detail`, as published in
/// `events/schemas/<detail-type>.json`.
pub fn detail_schema(ty: EventType) -> serde_json::Value {
    fn of<T: EventData>() -> serde_json::Value {
        let mut schema = schemars::schema_for!(Envelope<T>).to_value();
        if let Some(obj) = schema.as_object_mut() {
            let ty = T::TYPE;
            obj.insert(
                "$id".into(),
                format!("urn:eventmart:schema:{}:v{EVENT_VERSION}", ty.detail_type()).into(),
            );
            obj.insert("title".into(), ty.detail_type().into());
            obj.insert(
                "description".into(),
                format!(
                    "`detail` of an EventBridge event with source `{}` and detail-type `{}`.",
                    ty.source().as_str(),
                    ty.detail_type()
                )
                .into(),
            );
        }
        schema
    }
    match ty {
        EventType::OrderPlaced => of::<OrderPlaced>(),
        EventType::OrderCanceled => of::<OrderCanceled>(),
        EventType::MembershipSignedUp => of::<MembershipSignedUp>(),
        EventType::MembershipCanceled => of::<MembershipCanceled>(),
        EventType::FulfillmentStarted => of::<FulfillmentStarted>(),
        EventType::FulfillmentCanceled => of::<FulfillmentCanceled>(),
        EventType::FulfillmentCancelRejected => of::<FulfillmentCancelRejected>(),
        EventType::OrderShipped => of::<OrderShipped>(),
    }
}
