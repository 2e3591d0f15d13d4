#!/usr/bin/env bash
# Run every unit test binary of a build under valgrind's memcheck (make test's valgrind
# phase), $JOBS at a time. Fails on any memory error or definite leak (valgrind exits 99)
# and on any test failure. DD_TEST_QUICK=1 shrinks the slow random sweeps and rounds:
# valgrind serialises threads and runs code 20-50x slower.
# Usage: scripts/valgrind_unit.sh [BUILD_DIR]   (default build; JOBS default nproc)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
tmp="$build/test-tmp-valgrind"   # absolute: tests build URIs and chdir from it
mkdir -p "$tmp"

# One test: its log in $tmp/<name>.log, its verdict on stdout.
run_one() {
  local t=$1 name start
  name=$(basename "$t")
  start=$(date +%s)
  if DD_TEST_QUICK=1 DD_TEST_TIME_SCALE=20 DD_TEST_TMP="$tmp/$name" valgrind -q --error-exitcode=99 \
      --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
      "$t" >"$tmp/$name.log" 2>&1; then
    echo "valgrind: $name ok ($(( $(date +%s) - start )) s)"
  else
    echo "valgrind: $name FAILED (exit $?), end of $tmp/$name.log:"
    tail -40 "$tmp/$name.log"
    return 1
  fi
}
export -f run_one
export tmp
export DD_TEST_BIN="$build/deardiary"   # as ctest gives it: tests that start a server

tests=()
for t in "$build"/tests/unit/test_*; do
  [ -f "$t" ] && [ -x "$t" ] && tests+=("$t")
done
for t in "${tests[@]}"; do mkdir -p "$tmp/$(basename "$t")"; done
printf '%s\n' "${tests[@]}" | xargs -P "${JOBS:-$(nproc)}" -I{} bash -c 'run_one "$1"' _ {}
