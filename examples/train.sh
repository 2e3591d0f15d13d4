#!/bin/sh
# train.sh - a training loop in plain shell that logs to DearDiary through the mount:
# parameters with `echo > params/KEY`, one metric point per epoch with `echo >>`, and the
# trained model copied into the experiment's resources. No client library.
#
# Run it as an iteration (the database must be mounted):
#   deardiary run <mnt>/projects/P/experiments/E -- ./train.sh [MAX_DEPTH] [EPOCHS]
# deardiary run sets DEARDIARY_ITERATION (this run's directory in the mount),
# DEARDIARY_ITERATION_ID and DEARDIARY_EXPERIMENT, and records the outcome: exit 0 is
# SUCCEEDED, anything else FAILED with the last lines of stderr as error_message.
set -eu
run=${DEARDIARY_ITERATION:?run me with deardiary run, on a mounted database}
max_depth=${1:-4}
epochs=${2:-5}

if [ "$max_depth" -le 0 ]; then
    echo "train.sh: max_depth must be positive, got $max_depth" >&2   # ends up in error_message
    exit 1
fi
echo "$max_depth" > "$run/params/max_depth"
echo "$epochs" > "$run/params/epochs"

epoch=1
while [ "$epoch" -le "$epochs" ]; do
    # a made-up learning curve (deeper trees learn faster); awk does the arithmetic
    acc=$(awk -v d="$max_depth" -v e="$epoch" 'BEGIN { printf "%.4f", 1 - 0.5 / (1 + d * e / 8) }')
    loss=$(awk -v a="$acc" 'BEGIN { printf "%.4f", -log(a) }')
    echo "$epoch $acc" >> "$run/metrics/accuracy"    # "<step> <value>"
    echo "$loss" >> "$run/metrics/loss"              # "<value>": step is max(step)+1
    echo "epoch $epoch: accuracy $acc"
    epoch=$((epoch + 1))
done

# the "model" this run produced: any file; it becomes a resource of the experiment,
# which the promotion script (promote.sh) registers as a model version
model=$(mktemp)
printf 'max_depth=%s\naccuracy=%s\n' "$max_depth" "$acc" > "$model"
cp "$model" "$DEARDIARY_EXPERIMENT/resources/model-$DEARDIARY_ITERATION_ID.txt"
rm -f "$model"
echo "trained with max_depth=$max_depth; final accuracy $acc" > "$run/notes"
