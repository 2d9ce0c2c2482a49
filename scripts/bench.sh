#!/usr/bin/env bash
# The benchmark suite of issue #6 (`just bench`): ftpkit against curl, lftp
# and suppaftp on the interop vsftpd (plain and explicit TLS) on loopback;
# large files, many small files, segmented download, CPU, memory, parsers and
# the physical limits; and (issue #11) many small uploads on one session to
# the interop ProFTPD over TLS 1.3 (case proftpd-tls: ftpkit TLS 1.3 and 1.2,
# Python ftplib, lftp). Prints one table and writes docs/performance.md.
#
# Installs lftp (Debian package) when missing. Starts vsftpd, vsftpd-TLS and
# ProFTPD-TLS only when /tmp/ftpkit-interop/env is absent (and stops them at
# exit); servers already running are used as they are.
# Environment: RUNS (default 5) and the BENCH_* variables of scripts/bench.py;
# BENCH_SKIP_BUILD=1 uses the binaries already built.
set -euo pipefail
cd "$(dirname "$0")/.."
export FTPKIT_INTEROP_DIR="${FTPKIT_INTEROP_DIR:-/tmp/ftpkit-interop}"
export BENCH_COMMAND="${BENCH_COMMAND:-just bench}${RUNS:+ (RUNS=$RUNS)}"

for tool in lftp curl rclone; do
  if ! command -v "$tool" >/dev/null; then
    apt-get install -y "$tool" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y "$tool" >/dev/null; }
  fi
done

if [ ! -f "$FTPKIT_INTEROP_DIR/env" ]; then
  bash interop/servers.sh install
  bash interop/servers.sh start VSFTPD VSFTPD_TLS PROFTPD_TLS PUREFTPD_TLS
  trap 'bash interop/servers.sh stop >/dev/null 2>&1 || true' EXIT
fi

# The bench crate is outside the root workspace (its own Cargo.lock and
# target directory); the CLI is built into the same target directory so as
# not to contend with the workspace's.
export CARGO_TARGET_DIR="$PWD/crates/bench/target"
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release --quiet --manifest-path crates/bench/Cargo.toml
  cargo build --release --quiet -p ftpkit-cli
  # The latency case's delay proxy (crates/testkit/src/delay_proxy.rs).
  cargo build --release --quiet -p ftpkit-testkit --bin ftpkit-delay-proxy
fi

case ",${BENCH_CASES:-parsers}," in
  *,parsers,*)
    # Criterion, kept short; bench.py reads target/criterion/*/*/new/*.json.
    rm -rf "$CARGO_TARGET_DIR/criterion"
    cargo bench --quiet --manifest-path crates/bench/Cargo.toml --bench parsers -- \
      --warm-up-time 1 --measurement-time 3 --noplot 2>&1 | grep -E '^[a-z_]+/[a-z]+ +time:|thrpt:' || true
    ;;
esac

python3 scripts/bench.py
