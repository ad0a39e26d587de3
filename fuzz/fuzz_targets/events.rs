//! Event parsing: any bytes, as the JSON of an EventBridge event, through
//! `Event::from_eventbridge` (what every consumer runs first) and, since that is where a
//! consumer's handler starts, through `consume` with its dead-letter queue. An event that
//! parses must round-trip.
#![no_main]

use eventmart_shared::consumer::{InMemoryDeadLetters, consume};
use eventmart_shared::events::Event;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(payload) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let parsed = Event::from_eventbridge(&payload);
    match &parsed {
        Ok(event) => eventmart_fuzz::check_round_trip(event),
        Err(e) => {
            assert!(!e.field.is_empty(), "a parse error names its field");
            assert!(!e.is_retryable());
        }
    }
    // A consumer: parsed events reach the handler, the others its dead-letter queue.
    let dlq = InMemoryDeadLetters::default();
    let out =
        eventmart_fuzz::http::runtime().block_on(consume(
            "fuzz",
            &payload,
            &dlq,
            |event| async move {
                Ok(serde_json::json!({ "handled": event.event_type().detail_type() }))
            },
        ));
    let out = out.expect("a handler that succeeds, or a dead letter: never a retry");
    let dead = dlq.messages.lock().unwrap();
    assert_eq!(dead.len(), usize::from(parsed.is_err()));
    assert_eq!(out.get("deadLettered").is_some(), parsed.is_err());
    if let Some(letter) = dead.first() {
        assert_eq!(
            letter["event"], payload,
            "the dead letter keeps the event whole"
        );
    }
});
