#!/usr/bin/env bash
# Run every libFuzzer target of a DD_FUZZ build for a bounded time (make fuzz).
# Each target first replays its checked-in seed corpus fuzz/corpus/<target>/ (every
# input there, including the crashes found before, must pass), then fuzzes for
# FUZZ_SECONDS from a copy of it, so the checked-in corpus is never modified. Any crash,
# leak, timeout or broken promise fails the run; the input is kept in
# <build>/fuzz-artifacts/<target>/ - fix the bug and add the input to the corpus.
# Usage: scripts/fuzz.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=$(cd "$1" && pwd)
seconds=${2:-${FUZZ_SECONDS:-20}}
root=$(cd "$(dirname "$0")/.." && pwd)
work="$build/fuzz-work"
failed=()
for src in "$root"/fuzz/fuzz_*.c; do
  t=$(basename "$src" .c)
  bin="$build/fuzz/$t"
  rm -rf "$work/$t" "$build/fuzz-artifacts/$t"
  mkdir -p "$work/$t" "$build/fuzz-artifacts/$t"
  cp "$root/fuzz/corpus/$t/"* "$work/$t/"
  opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$build/fuzz-artifacts/$t/")
  case $t in fuzz_config|fuzz_params_yaml) opts+=(-dict="$root/fuzz/yaml.dict");; esac
  log="$build/fuzz-artifacts/$t.log"
  if "$bin" "${opts[@]}" "$work/$t" >"$log" 2>&1; then
    echo "fuzz: $t ok ($(grep -o 'number_of_executed_units: [0-9]*' "$log" | cut -d' ' -f2) runs in ${seconds} s)"
  else
    echo "fuzz: $t FAILED; end of $log:"
    tail -30 "$log"
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
