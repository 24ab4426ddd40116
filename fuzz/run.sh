#!/usr/bin/env bash
# Builds every fuzz target once and runs each in turn for SECONDS (default 10), one at a time on
# one core, from the seed corpus in fuzz/corpus/TARGET. New inputs go to a scratch corpus
# (FUZZ_CORPUS, default a temporary directory), so the checked-in seeds are left as they are.
# Exits non-zero, naming the target and its reproducer, at the first target that fails.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
# FUZZ_TARGET_DIR (default $CARGO_TARGET_DIR/fuzz, else fuzz/target) keeps the instrumented
# build apart from the normal one.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-10}"
shift || true
if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
target_dir="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/fuzz}}"
target_dir="${target_dir:-$PWD/target}"
scratch="${FUZZ_CORPUS:-$(mktemp -d)}"
# No sanitizer: every crate of ours forbids unsafe code, so a bug shows as a panic, which
# libFuzzer catches anyway; without ASan each run makes about twice as many executions.
build=(--sanitizer none --target-dir "$target_dir")

cargo +nightly fuzz build "${build[@]}"
for t in "${targets[@]}"; do
  mkdir -p "$scratch/corpus/$t" "$scratch/artifacts/$t"
  echo "-- fuzz $t for ${seconds}s"
  if ! cargo +nightly fuzz run "${build[@]}" "$t" "$scratch/corpus/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$scratch/artifacts/$t/"; then
    echo "fuzz target '$t' FAILED; reproducer: $(ls "$scratch/artifacts/$t"/* 2>/dev/null | head -1)" >&2
    echo "replay: cd fuzz && cargo +nightly fuzz run --sanitizer none $t <reproducer>" >&2
    exit 1
  fi
done
