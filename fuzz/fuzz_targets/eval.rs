//! Read + evaluate arbitrary text under small limits: never panics, always terminates.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rtfs::fuzzing::eval(data);
});
