//! Tags and digests come from callers and from the registry: no input may panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|value: &str| {
    acr::fuzzing::reference(value);
});
