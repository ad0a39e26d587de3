//! libFuzzer entry point of [`eventmart_fuzz::targets::envelope`]; what it checks is
//! documented there.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| eventmart_fuzz::targets::envelope(data));
