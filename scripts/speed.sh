#!/usr/bin/env bash
# 1 GiB RETR and STOR against the interop vsftpd, plain and explicit TLS:
# ftpkit (examples/transfer.rs) beside curl, interleaved run by run, on the
# same file in the same run. Prints the median MB/s of each and the ratio.
# Needs `interop/servers.sh start` first. RUNS (default 3) runs per case.
set -euo pipefail
cd "$(dirname "$0")/.."
env_file="${FTPKIT_INTEROP_DIR:-/tmp/ftpkit-interop}/env"
[ -f "$env_file" ] || { echo "servers not running: interop/servers.sh start" >&2; exit 1; }
# shellcheck disable=SC1090
. "$env_file"
runs="${RUNS:-3}"
size=$((1024 * 1024 * 1024))
cargo build --release --example transfer --quiet
bin=target/release/examples/transfer
src=$(mktemp -d)/big.bin
head -c "$size" /dev/urandom > "$src"
user=$FTPKIT_INTEROP_USER pass=$FTPKIT_INTEROP_PASS ca=$FTPKIT_INTEROP_CA

mbps() { awk -v b="$size" -v s="$1" 'BEGIN { printf "%.0f", b / 1e6 / s }'; }
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '%-14s %-5s %10s %10s %7s\n' case dir "ftpkit" "curl" ratio
for mode in plain tls; do
  if [ "$mode" = plain ]; then name=VSFTPD; tls=none; curl_tls=(); else name=VSFTPD_TLS; tls=explicit; curl_tls=(--ssl-reqd --cacert "$ca"); fi
  port_var="FTPKIT_INTEROP_${name}_PORT"; root_var="FTPKIT_INTEROP_${name}_ROOT"
  port=${!port_var}; root=${!root_var}
  cp "$src" "$root/big.bin"; chmod 644 "$root/big.bin"
  for dir in get put; do
    : > /tmp/ftpkit-speed-f; : > /tmp/ftpkit-speed-c
    for _ in $(seq "$runs"); do
      if [ "$dir" = get ]; then
        timed "$bin" get localhost "$port" "$user" "$pass" "$tls" big.bin - "$ca" >> /tmp/ftpkit-speed-f
        timed curl -sS "${curl_tls[@]}" -o /dev/null "ftp://$user:$pass@127.0.0.1:$port/big.bin" >> /tmp/ftpkit-speed-c
      else
        timed "$bin" put localhost "$port" "$user" "$pass" "$tls" up-f.bin "$src" "$ca" >> /tmp/ftpkit-speed-f
        timed curl -sS "${curl_tls[@]}" -T "$src" "ftp://$user:$pass@127.0.0.1:$port/up-c.bin" >> /tmp/ftpkit-speed-c
      fi
    done
    f=$(median < /tmp/ftpkit-speed-f); c=$(median < /tmp/ftpkit-speed-c)
    printf '%-14s %-5s %7s MB/s %5s MB/s %6.2fx\n' "vsftpd-$mode" "$dir" "$(mbps "$f")" "$(mbps "$c")" "$(awk -v f="$f" -v c="$c" 'BEGIN { print c / f }')"
  done
  rm -f "$root/big.bin" "$root/up-f.bin" "$root/up-c.bin"
done
rm -f "$src" /tmp/ftpkit-speed-f /tmp/ftpkit-speed-c
