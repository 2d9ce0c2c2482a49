//! Fuzz target `pasv_epsv`: see `ftpkit_control::fuzzing::pasv_epsv`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ftpkit_control::fuzzing::pasv_epsv(data);
});
