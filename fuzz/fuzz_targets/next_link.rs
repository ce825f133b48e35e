//! `Link` values come from the network: no input may panic the parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|value: &[u8]| {
    acr::fuzzing::next_link(value);
});
