#!/bin/sh
# demo_fill.sh MOUNTPOINT - give a new, empty registry mounted at MOUNTPOINT a small real
# example to look at, made through the mount by the scripts in examples/, run as a user
# would run them (`make mount` calls it for the demo registry):
#
#   projects/demo/experiments/trees
#     a sweep over max_depth: a driver iteration and three child runs of train.sh
#       (params max_depth and epochs, metric curves accuracy and loss, a model file in
#       resources/)
#     three runs of train.py, gradient descent at three learning rates
#       (params learning_rate, epochs, optimizer; metric curves loss and w)
#   projects/demo/models/trees-clf
#     the most accurate sweep run registered as version 1 and promoted to PRODUCTION
#     (promote.sh)
#
# A registry that already has a project is left as it is (exit 0). Every iteration is
# made by `deardiary run` ($DEARDIARY, else deardiary on PATH).
set -eu
mnt=${1:?usage: demo_fill.sh MOUNTPOINT}
DEARDIARY=${DEARDIARY:-deardiary}
export DEARDIARY                  # sweep.sh calls deardiary run through it
examples=$(cd "$(dirname "$0")/../examples" && pwd)

if [ ! -d "$mnt/projects" ]; then
    echo "demo_fill.sh: $mnt is not a mounted DearDiary registry" >&2
    exit 1
fi
if [ -n "$(ls -A "$mnt/projects")" ]; then
    echo "demo: $mnt already has projects; left as it is"
    exit 0
fi

project=$mnt/projects/demo
exp=$project/experiments/trees
mkdir "$project"
echo "The demo registry of make mount: see README.md" > "$project/description"
mkdir "$exp"
echo "max_depth sweep (train.sh) and learning rates (train.py)" > "$exp/description"

"$DEARDIARY" run "$exp" -- "$examples/sweep.sh" 2 4 8 >/dev/null
for lr in 0.05 0.1 0.3; do
    "$DEARDIARY" run "$exp" -- python3 "$examples/train.py" "$lr" 20 >/dev/null
done
"$examples/promote.sh" "$exp" trees-clf | head -n 1
echo "demo: $(ls "$exp/iterations" | wc -l) iterations in $exp;" \
     "model $mnt/models/trees-clf is in PRODUCTION"
