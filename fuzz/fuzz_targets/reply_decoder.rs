//! Fuzz target `reply_decoder`: see `ftpkit_control::fuzzing::reply_decoder`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ftpkit_control::fuzzing::reply_decoder(data);
});
