#!/bin/sh
# sweep.sh - a hyperparameter sweep over max_depth. This script is the driver iteration;
# each setting is trained as a child iteration of it by `deardiary run --parent`, so the
# sweep shows up as iterations/<driver>/children/<child> in the mount. max_depth=0 fails
# on purpose (train.sh refuses it): that child is FAILED with train.sh's message, and the
# sweep goes on.
#
#   deardiary run <mnt>/projects/P/experiments/E -- ./sweep.sh [DEPTH...]
#
# Only the driver's environment is snapshotted (env/), as the original's with_iteration
# does; the children share it. The driver records how many children failed.
set -u
dd=${DEARDIARY:-deardiary}
here=$(cd "$(dirname "$0")" && pwd)
run=${DEARDIARY_ITERATION:?run me with deardiary run, on a mounted database}
[ $# -gt 0 ] || set -- 2 0 8

echo "$*" > "$run/params/grid"
failed=0
for depth in "$@"; do
    if "$dd" run --parent "$DEARDIARY_ITERATION_ID" "$DEARDIARY_EXPERIMENT" -- \
            "$here/train.sh" "$depth" 3; then
        echo "sweep: max_depth=$depth succeeded"
    else
        echo "sweep: max_depth=$depth failed (exit $?)"
        failed=$((failed + 1))
    fi
done
echo "$failed" >> "$run/metrics/failed_children"
echo "sweep: children: $(ls "$run/children" | tr '\n' ' ')"
