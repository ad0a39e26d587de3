//! HTTP bodies of the memberships API: sequences of requests (see `eventmart_fuzz::http`
//! for the input format) through the memberships handler over in-memory ports. Every
//! response must be one openapi.yaml documents; every sign-up and cancel accepted must
//! emit an event that consumers accept.
#![no_main]

use eventmart_fuzz::http::{Route, drive};
use eventmart_fuzz::memory::Memory;
use eventmart_shared::events::EventType;
use libfuzzer_sys::fuzz_target;
use memberships::{Membership, MembershipStatus, Memberships};

fuzz_target!(|data: &[u8]| {
    let memory = Memory::default();
    let app = Memberships::new(memory.clone(), memory.clone());
    drive(
        "memberships",
        data,
        &memory,
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
});
