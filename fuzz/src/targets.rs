//! The bodies of the fuzz targets, one function per target: each takes any bytes and
//! panics only when the code under test crashes or answers what the contract does not
//! allow. `fuzz_targets/` hands them to libFuzzer (`scripts/fuzz.sh`, coverage-guided,
//! nightly flags); `tests/replay.rs` runs them on stable over the seed corpus and
//! mutations of it, so that `cargo test` keeps them compiling and passing.

use crate::http::{Route, drive};
// The bus's event (JSON as the engine reads it), beside the domain's.
use eventmart_local::{Event as BusEvent, Pattern};
use eventmart_shared::consumer::{InMemoryDeadLetters, consume};
use eventmart_shared::events::{Event, EventType};
use memberships::{Membership, MembershipStatus};
use orders::{Order, OrderStatus};
use retryable::Retryable;
use serde_json::Value;

/// A target's body: any bytes in, a panic if they found a fault.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/` names them.
pub const ALL: &[(&str, Target)] = &[
    ("events", events),
    ("envelope", envelope),
    ("pattern_compile", pattern_compile),
    ("pattern_match", pattern_match),
    ("http_orders", http_orders),
    ("http_memberships", http_memberships),
];

/// Event parsing: any bytes, as the JSON of an EventBridge event, through
/// `Event::from_eventbridge` (what every consumer runs first) and, since that is where a
/// consumer's handler starts, through `consume` with its dead-letter queue. An event that
/// parses must round-trip.
pub fn events(data: &[u8]) {
    let Ok(payload) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let parsed = Event::from_eventbridge(&payload);
    match &parsed {
        Ok(event) => crate::check_round_trip(event),
        Err(e) => {
            assert!(!e.field.is_empty(), "a parse error names its field");
            assert!(!e.is_retryable());
        }
    }
    // A consumer: parsed events reach the handler, the others its dead-letter queue.
    let dlq = InMemoryDeadLetters::default();
    let out =
        crate::http::runtime().block_on(consume("fuzz", &payload, &dlq, |event| async move {
            let handled = serde_json::json!({ "handled": event.event_type().detail_type() });
            Ok::<_, std::convert::Infallible>(handled)
        }));
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
}

/// Envelope parsing: the first byte picks the event type (as `source` and `detail-type`
/// would), the rest is the JSON `detail` (metadata and data), through
/// `Event::from_detail`. Whatever parses must round-trip; whatever fails names a field
/// under `detail`.
pub fn envelope(data: &[u8]) {
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
            crate::check_round_trip(&event);
        }
        Err(e) => assert!(
            e.field == "detail" || e.field.starts_with("detail."),
            "the error names a field under detail: {e}"
        ),
    }
}

/// The pattern parser: any bytes as pattern text, through `Pattern::parse` (the engine's
/// own JSON reader and the compiler), and the same JSON through `Pattern::from_value`.
/// A rejected pattern has AWS's wording; an accepted one can be matched at once.
pub fn pattern_compile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let probe = BusEvent::parse(r#"{"source":"eventmart.orders","detail-type":"OrderPlaced","detail":{"a":[1,"x",null,{"b":true}]}}"#)
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
}

/// Matching: the input is a pattern, a NUL byte, and an event (both JSON text). A pattern
/// that compiles is matched against the event, parsed both ways: by the engine's reader
/// (numbers as written) and as a `serde_json::Value`.
pub fn pattern_match(data: &[u8]) {
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
    if let Ok(parsed) = BusEvent::parse(event) {
        let a = pattern.matches_event(&parsed);
        let b = pattern
            .matches_json(event)
            .expect("parsed once, parses again");
        assert_eq!(a, b, "matching the same event twice differs");
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(event) {
        let _ = pattern.matches(&v);
    }
}

/// HTTP bodies of the orders API: sequences of requests (see [`crate::http`] for
/// the input format) through the orders handler over in-memory ports, from the request
/// as lambda_http hands it over to the response. Every response must be one openapi.yaml
/// documents; every order accepted must emit an `OrderPlaced` that consumers accept.
pub fn http_orders(data: &[u8]) {
    let memory = orders::memory::Memory::default();
    let app = orders::App::new(
        memory.clone(),
        memory.store.clone(),
        InMemoryDeadLetters::default(),
    );
    drive(
        "orders",
        data,
        &memory.store,
        |route| match route {
            Route::Create => &[EventType::OrderPlaced],
            Route::Cancel => &[EventType::OrderCanceled],
            _ => &[],
        },
        |route, body| {
            let order: Order = serde_json::from_value(body.clone())
                .unwrap_or_else(|e| panic!("{route:?}: not an order ({e}): {body}"));
            assert!(!order.items.is_empty() && order.items.len() <= 100);
            match route {
                Route::Create => assert_eq!(order.status, OrderStatus::Placed),
                Route::Cancel => {
                    assert_eq!(order.status, OrderStatus::Canceled);
                    assert!(order.cancel_reason.is_some());
                }
                _ => {}
            }
            order.order_id.to_string()
        },
        |req| app.handle(req),
    );
}

/// HTTP bodies of the memberships API: sequences of requests (see `crate::http`
/// for the input format) through the memberships handler over in-memory ports. Every
/// response must be one openapi.yaml documents; every sign-up and cancel accepted must
/// emit an event that consumers accept.
pub fn http_memberships(data: &[u8]) {
    let memory = memberships::memory::Memory::default();
    let app = memberships::App::new(memory.clone(), memory.0.clone());
    drive(
        "memberships",
        data,
        &memory.0,
        |route| match route {
            Route::Create => &[EventType::MembershipSignedUp],
            Route::Cancel => &[EventType::MembershipCanceled],
            _ => &[],
        },
        |route, body| {
            let m: Membership = serde_json::from_value(body.clone())
                .unwrap_or_else(|e| panic!("{route:?}: not a membership ({e}): {body}"));
            match route {
                Route::Create => assert_eq!(m.status, MembershipStatus::Active),
                Route::Cancel => {
                    assert_eq!(m.status, MembershipStatus::Canceled);
                    assert!(m.cancel_reason.is_some());
                }
                _ => {}
            }
            m.membership_id.to_string()
        },
        |req| app.handle(req),
    );
}
