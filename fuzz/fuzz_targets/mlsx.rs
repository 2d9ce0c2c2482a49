//! Fuzz target `mlsx`: see `ftpkit_control::fuzzing::mlsx`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ftpkit_control::fuzzing::mlsx(data);
});
