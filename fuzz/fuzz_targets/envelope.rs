//! Envelope parsing: the first byte picks the event type (as `source` and `detail-type`
//! would), the rest is the JSON `detail` (metadata and data), through
//! `Event::from_detail`. Whatever parses must round-trip; whatever fails names a field
//! under `detail`.
#![no_main]

use eventmart_shared::events::{Event, EventType};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let ty = EventType::ALL[usize::from(which) % EventType::ALL.len()];
    let Ok(detail) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    match Event::from_detail(ty, &detail) {
        Ok(event) => {
            assert_eq!(event.event_type(), ty);
            eventmart_fuzz::check_round_trip(&event);
        }
        Err(e) => assert!(
            e.field == "detail" || e.field.starts_with("detail."),
            "the error names a field under detail: {e}"
        ),
    }
});
