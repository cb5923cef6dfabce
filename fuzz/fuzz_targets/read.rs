//! The reader on arbitrary text: never panics; what it reads prints and reads back.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rtfs::fuzzing::read(data);
});
