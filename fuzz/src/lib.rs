//! What the fuzz targets share: the event round trip they all check, the HTTP requests
//! the producer targets build from fuzz input and what every response must satisfy
//! (the handlers run over the in-memory ports of their crates' `memory` feature).
//!
//! A target fails (and libFuzzer keeps the input) on a panic: a crash of the code under
//! test, or an `assert!` here that found an answer the API or the event contract does not
//! allow.

pub mod http;
pub mod targets;

use eventmart_shared::events::{Event, EventType};
use serde_json::Value;

/// An event as it leaves a producer: source, detail-type and the `detail` JSON.
pub fn wire(event: &Event) -> (String, String, Value) {
    let entry = event.to_entry();
    let detail: Value =
        serde_json::from_str(&entry.detail).expect("an event serializes to JSON text");
    (
        entry.source.to_owned(),
        entry.detail_type.to_owned(),
        detail,
    )
}

/// Whatever an event was parsed from, what it serializes to parses back, as the same
/// type, into an event that serializes identically: what one service publishes, every
/// other reads. (Equality of the values themselves is not expected: parsing accepts
/// spellings that writing normalises, such as upper-case UUIDs or a `+02:00` offset.)
pub fn check_round_trip(event: &Event) {
    let (source, detail_type, detail) = wire(event);
    let ty = EventType::lookup(&source, &detail_type).expect("an event names its own type");
    assert_eq!(ty, event.event_type());
    let again = Event::from_detail(ty, &detail)
        .unwrap_or_else(|e| panic!("a serialized {detail_type} does not parse back: {e}"));
    assert_eq!(
        wire(&again),
        (source, detail_type, detail),
        "serialize(parse(serialize(e))) != serialize(e)"
    );
    // Through a full EventBridge event too, as consumers receive it.
    let bridged = serde_json::json!({
        "version": "0", "id": "x", "source": again.event_type().source().as_str(),
        "detail-type": again.event_type().detail_type(), "detail": wire(&again).2,
    });
    let third = Event::from_eventbridge(&bridged)
        .unwrap_or_else(|e| panic!("an EventBridge event of a parsed event does not parse: {e}"));
    assert_eq!(wire(&third), wire(&again));
}
