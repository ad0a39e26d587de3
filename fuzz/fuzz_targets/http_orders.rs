//! HTTP bodies of the orders API: sequences of requests (see `eventmart_fuzz::http` for
//! the input format) through the orders handler over in-memory ports, from the request
//! as lambda_http hands it over to the response. Every response must be one openapi.yaml
//! documents; every order accepted must emit an `OrderPlaced` that consumers accept.
#![no_main]

use eventmart_fuzz::http::{Route, drive};
use eventmart_fuzz::memory::{Memory, NoDeadLetters};
use eventmart_shared::events::EventType;
use libfuzzer_sys::fuzz_target;
use orders::{Order, OrderStatus, Orders};

fuzz_target!(|data: &[u8]| {
    let memory = Memory::default();
    let app = Orders::new(memory.clone(), memory.clone(), NoDeadLetters);
    drive(
        "orders",
        data,
        &memory,
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
});
