#!/usr/bin/env bash
# Formatting, lints and docs, all with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# The real-server suites (interop, faults, load) are behind a feature.
cargo clippy -p ftpkit-interop --all-targets --features interop -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
bash scripts/no-io.sh
