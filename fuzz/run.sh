#!/usr/bin/env bash
# Run every fuzz target on a scratch copy of its seed corpus, either for SECONDS each
# (`fuzz/run.sh 20`, the short mode CI uses) or for a number of executions each
# (`fuzz/run.sh --runs 10000000`, the long run reported in the README).
# cargo-fuzz needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them. A crash leaves its input in fuzz/artifacts/<target>/ and fails the run.
# FUZZ_SANITIZER=none builds without AddressSanitizer (our crate forbids unsafe code, and
# ASan slows these targets about tenfold), which is how the long runs are made; CI keeps
# the default, address. FUZZ_DEV=1 builds unoptimised (half the build time; CI's short
# runs use it).
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "--runs" ]; then
  limit=(-runs="${2:?--runs needs a count}")
  what="${2} runs"
else
  limit=(-max_total_time="${1:-20}")
  what="${1:-20}s"
fi
targets=(${FUZZ_TARGETS:-classify json_view policy_load decide})
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
san=(-s "${FUZZ_SANITIZER:-address}")
if [ -n "${FUZZ_DEV:-}" ]; then san+=(--dev); fi
cargo fuzz build "${san[@]}" 2>&1 | tail -1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t"
  echo "== fuzz $t for $what (sanitizer ${FUZZ_SANITIZER:-address})"
  start=$(date +%s)
  set +e
  cargo fuzz run "${san[@]}" "$t" "$scratch/$t" "corpus/$t" -- "${limit[@]}" -rss_limit_mb=2048 \
    >"$scratch/$t.log" 2>&1
  status=$?
  set -e
  grep -E "^(#[0-9]+.*DONE|Done [0-9]+ runs|==[0-9]+==ERROR|SUMMARY)|panicked" "$scratch/$t.log" || true
  echo "   exit $status after $(( $(date +%s) - start ))s"
  if [ "$status" -ne 0 ] || compgen -G "artifacts/$t/*" >/dev/null; then
    tail -40 "$scratch/$t.log" >&2
    echo "fuzz: $t failed (exit $status); inputs in fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "fuzz: ${targets[*]} ran $what each without a crash"
