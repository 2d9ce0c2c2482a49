# ftpkit's one entry point. Every recipe is plain shell: without `just`,
# run the commands shown under each recipe (see README).

# List recipes.
default:
    @just --list

# fmt, clippy and rustdoc with -D warnings, and the sans-IO check.
check:
    bash scripts/check.sh

# Unit, property, scripted-server and fuzz-corpus tests (no FTP server needed).
test:
    cargo test --workspace

# The sans-IO core must not depend on tokio, rustls, mio, socket2 or any runtime.
no-io:
    bash scripts/no-io.sh

# ftpkit as a dependency: a crate outside the workspace (explicit TLS against an
# embedded server; ftpkit-control over std::net), cargo package of the four
# published crates, cargo install of the CLI and a `get`, and the MSRV build.
downstream:
    bash scripts/downstream.sh

# Install and start vsftpd, ProFTPD, Pure-FTPd and pyftpdlib on loopback, run
# the interop suite against each, stop them. Fails when a server is missing.
interop:
    bash scripts/interop.sh

# Run each libFuzzer target for SECS seconds (nightly, or RUSTC_BOOTSTRAP=1).
fuzz secs="60":
    bash scripts/fuzz.sh {{secs}}

# Issue #6 suite: ftpkit vs curl, lftp, suppaftp on vsftpd (plain, TLS): MB/s, files/s,
# CPU, RSS, parsers; writes docs/performance.md. RUNS=5; starts vsftpd if not running.
bench:
    bash scripts/bench.sh

# The main job: a demo against an embedded FTPS server.
demo:
    cargo run --release --example demo

# What CI runs.
ci:
    bash .ci/run
