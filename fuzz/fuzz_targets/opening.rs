//! Fuzz target `opening`: see `ftpkit_control::fuzzing::opening`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ftpkit_control::fuzzing::opening(data);
});
