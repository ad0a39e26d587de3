//! The pattern parser: any bytes as pattern text, through `Pattern::parse` (the engine's
//! own JSON reader and the compiler), and the same JSON through `Pattern::from_value`.
//! A rejected pattern has AWS's wording; an accepted one can be matched at once.
#![no_main]

use eventmart_local::{Event, Pattern};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let probe = Event::parse(r#"{"source":"eventmart.orders","detail-type":"OrderPlaced","detail":{"a":[1,"x",null,{"b":true}]}}"#)
        .expect("a valid event");
    match Pattern::parse(text) {
        Ok(p) => {
            let _ = p.matches_event(&probe);
        }
        Err(e) => assert!(
            e.to_string()
                .starts_with("Event pattern is not valid. Reason: "),
            "{e}"
        ),
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
        && let Ok(p) = Pattern::from_value(&v)
    {
        let _ = p.matches_event(&probe);
        let _ = p.matches(&serde_json::json!({"detail": v}));
    }
});
