//! The decoder of the one encoding on arbitrary bytes: never panics; what decodes re-encodes
//! to the same bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rtfs::fuzzing::decode(data);
});
