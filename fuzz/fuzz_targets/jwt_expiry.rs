//! Tokens come from the network: no input may panic the `exp` and `aud` readers.
#![no_main]

libfuzzer_sys::fuzz_target!(|token: &str| {
    acr::fuzzing::jwt_expiry(token);
});
