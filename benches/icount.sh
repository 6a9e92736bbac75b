#!/usr/bin/env bash
# Instructions per call of each step of the pure request path, counted with cachegrind
# (valgrind, Debian's `valgrind` package): the difference between N and 0 iterations of
# examples/decide_count.rs, divided by N. Unlike criterion's times these do not drift
# with the VM's speed.
#   benches/icount.sh [decode run compose service]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
# Optimised like release, without fat LTO (minutes of linking for no change in counts
# that matter here).
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  cargo build --release --quiet --example decide_count
bin=target/release/examples/decide_count
n=2000
count() {
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
    awk '/I *refs/ { gsub(",", "", $4); print $4 }'
}
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(decode run compose service)
for s in "${steps[@]}"; do
  base=$(count "$s" 0)
  full=$(count "$s" "$n")
  echo "$s: $(( (full - base) / n )) instructions per call"
done
