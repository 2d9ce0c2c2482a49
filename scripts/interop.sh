#!/usr/bin/env bash
# The interop suite: install and start the real servers on loopback, run the
# suite against each (passive and active, plain and TLS), stop the servers.
# Fails, never skips, when a server cannot be installed or started.
set -euo pipefail
cd "$(dirname "$0")/.."
export FTPKIT_INTEROP_DIR="${FTPKIT_INTEROP_DIR:-/tmp/ftpkit-interop}"
started=0
cleanup() { [ "$started" = 1 ] && bash interop/servers.sh stop >/dev/null 2>&1 || true; }
trap cleanup EXIT

bash interop/servers.sh install
bash interop/servers.sh start
started=1

# Build first so the servers' idle time-outs never see a compile.
cargo test --release -p ftpkit-interop --features interop --no-run --quiet
log=$(mktemp)
rm -f "$FTPKIT_INTEROP_DIR/results.txt"
set +e
cargo test --release -p ftpkit-interop --features interop -- --test-threads "${FTPKIT_INTEROP_THREADS:-2}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo
echo "=== interop matrix"
python3 scripts/interop-matrix.py < "$log" | tee "$FTPKIT_INTEROP_DIR/matrix.md"
echo
echo "=== measurements (MB/s, TLS resumption)"
cat "$FTPKIT_INTEROP_DIR/results.txt" 2>/dev/null || true
rm -f "$log"
exit "$status"
