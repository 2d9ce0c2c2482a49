//! Replays the checked-in fuzz seed corpus (`fuzz/corpus/<target>/`) and
//! every saved crash (`fuzz/regressions/<target>/`) through the fuzz target
//! bodies in `ftpkit_control::fuzzing`, so that stable `cargo test` runs
//! each target on every file without cargo-fuzz or a nightly toolchain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use ftpkit_control::fuzzing;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files directly in `dir`, sorted; none if it does not exist.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// A fuzz target body: it panics on a finding.
type Target = fn(&[u8]);

/// Every fuzz target, by the name of its corpus folder.
const TARGETS: [(&str, Target); 6] = [
    ("reply_decoder", fuzzing::reply_decoder),
    ("pasv_epsv", fuzzing::pasv_epsv),
    ("mlsx", fuzzing::mlsx),
    ("list", fuzzing::list),
    ("session", fuzzing::session),
    ("opening", fuzzing::opening),
];

/// Runs `target` on every seed and regression file of `name`; the files that
/// panicked, each with its message.
fn replay(name: &str, target: Target) -> Vec<String> {
    let root = fuzz_dir();
    let seeds = files_in(&root.join("corpus").join(name));
    assert!(
        !seeds.is_empty(),
        "no seed corpus for fuzz target {name} in {}",
        root.join("corpus").join(name).display()
    );
    let regressions = files_in(&root.join("regressions").join(name));
    let mut failures = Vec::new();
    for path in seeds.iter().chain(&regressions) {
        let data = fs::read(path).expect("readable corpus file");
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&data))) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{name}: {}: {msg}", path.display()));
        }
    }
    failures
}

#[test]
fn every_target_passes_its_corpus_and_regressions() {
    let failures: Vec<String> = TARGETS
        .iter()
        .flat_map(|&(name, target)| replay(name, target))
        .collect();
    assert!(
        failures.is_empty(),
        "{} corpus files failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
