#!/usr/bin/env bash
# Every repository path the docs cite (`crates/...`, `scripts/...`,
# `interop/...`, `examples/...`, `fuzz/...`, `docs/...`) exists: a moved or
# renamed file fails here instead of leaving the docs pointing at nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=0
while IFS= read -r hit; do
  file=${hit%%:*}
  path=${hit#*:}
  # `a.rs::item` cites an item in a file.
  path=${path%%::*}
  if [ ! -e "$path" ]; then
    echo "$file cites $path, which does not exist"
    missing=1
  fi
done < <(grep -oE '(crates|scripts|interop|examples|fuzz|docs)/[A-Za-z0-9_./-]+\.(rs|sh|md|toml|py)' \
  README.md docs/*.md crates/*/README.md 2>/dev/null | sort -u)
exit $missing
