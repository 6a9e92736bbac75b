#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 20) on a scratch copy of its seed
# corpus. cargo-fuzz needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. Crashes land in fuzz/artifacts/<target>/ and fail the run.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-20}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in classify json_view policy_load decide; do
  mkdir -p "$scratch/$t"
  echo "== fuzz $t for ${secs}s"
  cargo fuzz run "$t" "$scratch/$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 \
    | grep -E "^(#[0-9]+.*DONE|Done [0-9]+ runs|==[0-9]+==ERROR|SUMMARY|thread .* panicked)" || true
  # cargo fuzz exits non-zero on a crash; pipefail carries it through grep's "|| true"? no:
  # check artifacts explicitly.
  if compgen -G "artifacts/$t/*" >/dev/null; then
    echo "fuzz: $t found a crash: $(ls artifacts/$t)" >&2
    exit 1
  fi
done
echo "fuzz: all targets ran ${secs}s without a crash"
