#!/usr/bin/env bash
# Fails if the sans-IO core depends on a runtime, a TLS library or sockets.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree -p ftpkit-control -e normal --prefix none --format '{p}')
bad=$(printf '%s\n' "$tree" | grep -Ei '^(tokio|tokio-[a-z-]+|rustls|mio|socket2|async-std|smol|async-io|futures-io|hyper|openssl|native-tls)( |$)' || true)
if [ -n "$bad" ]; then
  echo "ftpkit-control must stay sans-IO, but depends on:"
  printf '  %s\n' "$bad"
  exit 1
fi
echo "no-io: ftpkit-control depends on: $(printf '%s\n' "$tree" | awk '{print $1}' | sort -u | tr '\n' ' ')"
