//! The JSON parser of `parse-json` on arbitrary text: never panics; what parses round-trips.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rtfs::fuzzing::json(data);
});
