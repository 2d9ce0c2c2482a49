#!/usr/bin/env bash
# Formatting, lints and docs, all with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# The real-server suites (interop, faults, load) are behind a feature.
cargo clippy -p ftpkit-interop --all-targets --features interop -- -D warnings
# ftpkit without its default features (pkcs11: tokens through cryptoki).
cargo clippy -p ftpkit --lib --no-default-features -- -D warnings
# The fuzz targets and the benchmark runner are workspaces of their own.
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings
cargo clippy --manifest-path crates/bench/Cargo.toml --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
bash scripts/no-io.sh
# Licenses, banned crates and sources (crates.io only); offline: no
# advisory database is fetched. See deny.toml.
command -v cargo-deny >/dev/null || cargo install cargo-deny --locked
cargo deny --log-level error check licenses bans sources
# Every file the docs cite exists.
bash scripts/doc-paths.sh
