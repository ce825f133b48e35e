//! `WWW-Authenticate` values come from the network: no input may panic the parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|header: &[u8]| {
    acr::fuzzing::parse_challenges(header);
});
