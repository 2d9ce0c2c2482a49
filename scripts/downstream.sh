#!/usr/bin/env bash
# Issue #11: ftpkit is a dependency anyone can add. Four checks, each from
# the outside, as a user (or crates.io) sees the crates:
#
#   1. tests/downstream, a crate outside the workspace with its own
#      [workspace], no [patch] and its own lock file resolved from its own
#      manifest, builds against ftpkit + ftpkit-control and runs: ftpkit over
#      explicit TLS (upload, download, compare) and ftpkit-control alone over
#      blocking std::net, both against an embedded libunftp server; then the
#      README's examples (doctests) and the project's examples/ build there,
#      with only `ftpkit::` paths;
#   2. `cargo package` (with verification) of the four crates meant for
#      crates.io: ftpkit-control, ftpkit-data, ftpkit, ftpkit-cli;
#   3. `cargo install --path crates/cli` into a temporary root, and the
#      installed `ftpkit get` over explicit TLS (--ca-file) downloads a file
#      from the embedded server byte for byte (and refuses the server
#      without --ca-file);
#   4. MSRV: the four crates (the three libraries and the CLI) build with the
#      declared rust-version (1.85) from a lock file resolved MSRV-aware (see
#      the step for why).
#
# Exits non-zero on the first failure. Uses the network to crates.io (index
# and crates), loopback only otherwise. Nothing here is published.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)
step() { echo; echo "=== downstream: $* ($(( $(date +%s) - start ))s)"; }
fail() { echo "downstream: FAILED: $*" >&2; exit 1; }

# Cargo runs niced: CI and developers have 2 cores, other builds may run.
cargo() { nice -n 10 cargo "$@"; }

# The crates meant for crates.io, in dependency order.
published=(ftpkit-control ftpkit-data ftpkit ftpkit-cli)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$version" ] || fail "no workspace version in Cargo.toml"

# Where the workspace builds (absolute: some steps run in other directories).
target_root=${CARGO_TARGET_DIR:-target}
case $target_root in /*) ;; *) target_root=$root/$target_root ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/ftpkit-downstream.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
step "1. a user's crate (tests/downstream): build and run"
ds=tests/downstream
if grep -q '^\[patch' "$ds/Cargo.toml"; then
  fail "$ds/Cargo.toml must not patch anything"
fi
# The workspace's `cargo fmt --all` does not reach it.
cargo fmt --manifest-path "$ds/Cargo.toml" --check
# Its own target dir: it must not pick up the workspace's build or lock.
ds_target=$root/$ds/target
cargo build --manifest-path "$ds/Cargo.toml" --target-dir "$ds_target"
# rustls (and everything else) comes from crates.io, not from a fork.
rustls_entry=$(grep -A2 '^name = "rustls"$' "$ds/Cargo.lock")
if ! grep -q '^source = "registry+' <<<"$rustls_entry"; then
  fail "$ds/Cargo.lock: rustls does not come from crates.io"
fi
for p in ftpkit ftpkit-control ftpkit-data rustls tokio-rustls tokio libunftp; do
  printf '%s ' "$p $(grep -A1 "^name = \"$p\"$" "$ds/Cargo.lock" | sed -n 's/^version = "\(.*\)"$/\1/p' | paste -sd,)"
done
echo "(resolved by $ds/Cargo.lock)"
"$ds_target/debug/ftpkit-downstream" all
# The README's examples (doctests of the crate's lib.rs) and the project's
# examples, from outside the workspace, using only `ftpkit::` paths.
if grep -nE 'ftpkit_(control|data|testkit)::|use ftpkit_(control|data|testkit)\b' README.md examples/*.rs; then
  fail "the README and the examples must use only ftpkit:: paths (the core is ftpkit::proto)"
fi
cargo test --doc --manifest-path "$ds/Cargo.toml" --target-dir "$ds_target"
cargo build --examples --manifest-path "$ds/Cargo.toml" --target-dir "$ds_target"

# ---------------------------------------------------------------------------
step "2. cargo package (verified) ${published[*]}"
# --allow-dirty: this checks the tree as it is (CI's clone is clean anyway);
# nothing is published. Several -p at once: cargo verifies each crate
# against the packaged versions of the others (a temporary local registry),
# as crates.io would serve them.
pkg_args=()
for p in "${published[@]}"; do pkg_args+=(-p "$p"); done
# A target dir of its own. Cargo verifies each crate against the packaged
# others from a temporary local registry (<target>/package/tmp-registry):
# it unpacks them under $CARGO_HOME/registry/src/-<hash of that path>/ and
# builds them as registry crates, and it never unpacks or rebuilds a
# registry crate whose name and version it already has. A second run after
# a change to ftpkit-control would verify ftpkit against the first run's
# ftpkit-control. So the copies of these four crates go first: the unpacked
# sources, and (`cargo clean -p` matches every unit of a name, whatever its
# source) their build units in this target dir. In the shared workspace
# target dir that would also throw away the workspace's own builds of them.
pkg_target=$target_root/package-verify
for p in "${published[@]}"; do
  rm -rf "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/"$p-$version"
done
if [ -d "$pkg_target" ]; then
  cargo clean --quiet --target-dir "$pkg_target" "${pkg_args[@]}"
fi
cargo package --allow-dirty --target-dir "$pkg_target" "${pkg_args[@]}"
pkg_dir=$pkg_target/package
for p in "${published[@]}"; do
  crate=$pkg_dir/$p-$version.crate
  [ -f "$crate" ] || fail "no $crate"
  manifest=$(tar -xzOf "$crate" "$p-$version/Cargo.toml")
  # The unpublished testkit is a path-only dev-dependency: cargo must strip it.
  if grep -q 'ftpkit-testkit' <<<"$manifest"; then
    fail "$p: the packaged Cargo.toml still names ftpkit-testkit"
  fi
  if grep -q '^\[\[example\]\]' <<<"$manifest"; then
    fail "$p: the packaged Cargo.toml has examples (their files are outside the package)"
  fi
  for field in description license repository readme keywords categories; do
    grep -q "^$field = " <<<"$manifest" || fail "$p: no $field in the packaged Cargo.toml"
  done
  # (Listings into variables: `grep -q` closing a pipe early would fail the
  # pipeline under pipefail.)
  files=$(tar -tzf "$crate")
  grep -qx "$p-$version/README.md" <<<"$files" || fail "$p: no README.md in the package"
  echo "$p: $(wc -l <<<"$files") files, $(du -k "$crate" | cut -f1) KiB"
done

# ---------------------------------------------------------------------------
step "3. cargo install --path crates/cli, then the installed ftpkit get over explicit TLS"
# As the README says, without --locked: cargo resolves the CLI's
# dependencies afresh, as it does for `cargo install ftpkit-cli`. It builds
# in the workspace's target dir (target/release), not in the lock file.
lock_before=$(cksum < Cargo.lock)
cargo install --path crates/cli --root "$work/install"
[ "$(cksum < Cargo.lock)" = "$lock_before" ] || fail "cargo install changed Cargo.lock"
ftpkit=$work/install/bin/ftpkit
[ -x "$ftpkit" ] || fail "cargo install left no $ftpkit"
"$ftpkit" --version
help=$("$ftpkit" --help)
grep -q -- '--ca-file' <<<"$help" || fail "ftpkit --help does not list --ca-file"

"$ds_target/debug/ftpkit-downstream" serve "$work/serve" &
server_pid=$!
for _ in $(seq 1 300); do
  [ -f "$work/serve/server.env" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "the embedded server exited at start"
  sleep 0.1
done
[ -f "$work/serve/server.env" ] || fail "the embedded server did not start within 30 s"
env_value() { sed -n "s/^$1=//p" "$work/serve/server.env"; }
port=$(env_value PORT)
ftp_user=$(env_value USER)
ca_file=$(env_value CA_FILE)
remote_file=$(env_value FILE)
url="ftpes://$ftp_user@localhost:$port/hello.bin"

# Credentials: the user in the URL, the password from FTPKIT_PASSWORD.
FTPKIT_PASSWORD=$(env_value PASSWORD) "$ftpkit" get "$url" "$work/hello.bin" --ca-file "$ca_file" --quiet
cmp "$remote_file" "$work/hello.bin" || fail "ftpkit get: the downloaded file differs"
echo "ftpkit get $url --ca-file ...: $(wc -c < "$work/hello.bin") bytes, identical"
# The server's CA is in no system store: without --ca-file the certificate
# must be refused (exit 1), and nothing downloaded.
status=0
FTPKIT_PASSWORD=$(env_value PASSWORD) "$ftpkit" get "$url" "$work/untrusted.bin" --quiet 2> "$work/untrusted.err" || status=$?
if [ "$status" -ne 1 ] || ! grep -qi 'certificate' "$work/untrusted.err"; then
  cat "$work/untrusted.err" >&2
  fail "ftpkit get without --ca-file: exit $status, expected 1 with a certificate error"
fi
[ ! -s "$work/untrusted.bin" ] || fail "ftpkit get without --ca-file wrote data"
echo "without --ca-file, refused as it must be (exit 1): $(head -n 1 "$work/untrusted.err")"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
server_pid=

# ---------------------------------------------------------------------------
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
step "4. MSRV: ${published[*]} with Rust $msrv"
# The workspace's Cargo.lock follows the newest releases, several of which
# need a newer Rust than $msrv (time, icu_*, sha2, ...). A user on $msrv gets
# versions that fit from cargo's MSRV-aware resolution (resolver "3", the
# default of edition 2024, or resolver.incompatible-rust-versions =
# "fallback"). So: a copy of the workspace sources, its lock file re-resolved
# by Rust $msrv's cargo with that fallback, then `cargo check` of the library
# crates (and of the CLI, which declares the same rust-version) with Rust
# $msrv, in a target dir of its own. The copy keeps the real Cargo.lock
# untouched.
toolchain=$msrv
if ! rustup run "$toolchain" cargo --version >/dev/null 2>&1; then
  rustup toolchain install "$toolchain" --profile minimal
fi
msrv_dir=$target_root/msrv
msrv_src=$msrv_dir/src
rm -rf "$msrv_src"
mkdir -p "$msrv_src"
# Sources only (tar keeps modification times, so a warm target dir stays warm).
tar -C "$root" --exclude='target' --exclude='crates/bench' -cf - \
  Cargo.toml Cargo.lock README.md crates examples | tar -C "$msrv_src" -xf -
(
  cd "$msrv_src"
  # Logs what it resolves; the log shows what moved below the newest ("Downgrading").
  if ! CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo "+$toolchain" update \
    > "$work/msrv-update.log" 2>&1; then
    cat "$work/msrv-update.log" >&2
    fail "MSRV: cargo update with the rust-version fallback"
  fi
  grep -E '^ +(Locking|Downgrading) ' "$work/msrv-update.log" || true
  cargo "+$toolchain" check --locked --target-dir "$msrv_dir/target" "${pkg_args[@]}"
)

step "done: downstream crate, package, install, MSRV $msrv all passed"
