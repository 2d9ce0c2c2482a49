#!/usr/bin/env bash
# Throughput against curl on the interop vsftpd (plain and explicit TLS),
# 1 GiB each way, interleaved run by run. Starts the servers if needed.
# (The fuller benchmark matrix with suppaftp, lftp, small files, CPU and
# memory is tracked separately; this is what exists today.)
set -euo pipefail
cd "$(dirname "$0")/.."
export FTPKIT_INTEROP_DIR="${FTPKIT_INTEROP_DIR:-/tmp/ftpkit-interop}"
if [ ! -f "$FTPKIT_INTEROP_DIR/env" ]; then
  bash interop/servers.sh install
  bash interop/servers.sh start VSFTPD VSFTPD_TLS
  trap 'bash interop/servers.sh stop >/dev/null 2>&1 || true' EXIT
fi
bash scripts/speed.sh
