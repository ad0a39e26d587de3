//! libFuzzer entry point of [`eventmart_fuzz::targets::http_orders`]; what it checks is
//! documented there.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| eventmart_fuzz::targets::http_orders(data));
