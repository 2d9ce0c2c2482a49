//! Fuzz target `list`: see `ftpkit_control::fuzzing::list`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ftpkit_control::fuzzing::list(data);
});
