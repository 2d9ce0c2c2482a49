#!/usr/bin/env bash
# Runs every libFuzzer target for SECS seconds (default 60). Uses the nightly
# toolchain when installed, otherwise stable with RUSTC_BOOTSTRAP=1. New
# corpus entries go to fuzz/corpus-gen/ (ignored); crashes are left in
# fuzz/artifacts/ and make the script fail: minimise them and add them to
# fuzz/regressions/<target>/, which `cargo test` replays.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo fuzz)
fi
cd fuzz
status=0
for target in $(ls fuzz_targets | sed 's/\.rs$//'); do
  mkdir -p "corpus-gen/$target"
  log=$(mktemp)
  echo "=== $target: ${secs}s"
  if "${fuzz[@]}" run "$target" "corpus-gen/$target" "corpus/$target" -- \
      -max_total_time="$secs" -max_len=4096 -dict=dict/ftp.dict -print_final_stats=1 >"$log" 2>&1; then
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "$target: ${runs:-?} executions, no crash"
    [ -n "${FUZZ_REPORT:-}" ] && echo "$target ${runs:-?}" >> "$FUZZ_REPORT"
  else
    status=1
    echo "$target: CRASH"; grep -E 'panicked|SUMMARY|Test unit written' "$log" | head -5
    # Keep the input as a regression (replayed by `cargo test`); commit it
    # with the fix.
    mkdir -p "regressions/$target"
    for a in artifacts/"$target"/crash-* artifacts/"$target"/oom-* artifacts/"$target"/timeout-*; do
      [ -f "$a" ] && cp "$a" "regressions/$target/" && echo "  kept as fuzz/regressions/$target/$(basename "$a")"
    done
  fi
  rm -f "$log"
done
exit "$status"
