#!/bin/sh
# promote.sh - pick the best successful iteration of an experiment, register its model as
# a new version and promote it to PRODUCTION, all with shell tools on the mount.
#
#   ./promote.sh <mnt>/projects/P/experiments/E MODEL
#
# "Best" is the highest final accuracy (the last line of metrics/accuracy, as train.sh
# writes it); the artifact is the resources/model-<id>.txt that run produced. Writing
# PRODUCTION into a version's stage archives the previous production version in the same
# transaction.
set -eu
exp=${1:?usage: promote.sh EXPERIMENT_DIR MODEL}
model=${2:?usage: promote.sh EXPERIMENT_DIR MODEL}
project=$(cd "$exp/../.." && pwd)

best= best_acc=-1
for it in "$exp"/iterations/*/; do
    [ "$(cat "$it/status")" = SUCCEEDED ] || continue
    [ -e "$it/metrics/accuracy" ] || continue
    acc=$(tail -n 1 "$it/metrics/accuracy" | cut -d' ' -f2)    # "<step> <value> <time>"
    if awk -v a="$acc" -v b="$best_acc" 'BEGIN { exit !(a > b) }'; then
        best=$(basename "$it") best_acc=$acc
    fi
done
[ -n "$best" ] || { echo "promote.sh: no successful iteration with an accuracy" >&2; exit 1; }

mkdir -p "$project/models/$model"                  # a model owned by this project
versions=$project/models/$model/versions
n=$(cat "$versions/new/$best:model-$best.txt")     # registers; prints the version number
echo "a tree of accuracy $best_acc" > "$versions/$n/description"
echo STAGING > "$versions/$n/stage"
echo PRODUCTION > "$versions/$n/stage"
echo "promoted iteration $best (accuracy $best_acc) to $model version $n"
cat "$project/models/$model/production/artifact"
