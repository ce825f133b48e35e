//! `Content-Range` values come from the network: no input may panic the parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|value: &str| {
    acr::fuzzing::content_range(value);
});
