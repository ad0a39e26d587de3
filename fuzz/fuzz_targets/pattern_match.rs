//! Matching: the input is a pattern, a NUL byte, and an event (both JSON text). A pattern
//! that compiles is matched against the event, parsed both ways: by the engine's reader
//! (numbers as written) and as a `serde_json::Value`.
#![no_main]

use eventmart_local::{Event, Pattern};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(nul) = data.iter().position(|b| *b == 0) else {
        return;
    };
    let (Ok(pattern), Ok(event)) = (
        std::str::from_utf8(&data[..nul]),
        std::str::from_utf8(&data[nul + 1..]),
    ) else {
        return;
    };
    let Ok(pattern) = Pattern::parse(pattern) else {
        return;
    };
    if let Ok(parsed) = Event::parse(event) {
        let a = pattern.matches_event(&parsed);
        let b = pattern
            .matches_json(event)
            .expect("parsed once, parses again");
        assert_eq!(a, b, "matching the same event twice differs");
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(event) {
        let _ = pattern.matches(&v);
    }
});
