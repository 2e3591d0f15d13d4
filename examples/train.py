#!/usr/bin/env python3
"""train.py - a Python training loop that logs to DearDiary with plain open(): no client
library, just files in the mounted iteration directory.

Run it as an iteration (the database must be mounted):
    deardiary run <mnt>/projects/P/experiments/E -- python3 train.py [LEARNING_RATE] [EPOCHS]

Parameters are one value per file; a metric file is an append-only log where every
complete line written is one point, stored when the write returns.
"""
import math
import os
import sys


def main():
    run = os.environ.get("DEARDIARY_ITERATION")
    if not run:
        sys.exit("train.py: run me with deardiary run, on a mounted database")
    lr = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 10

    for key, value in {"learning_rate": lr, "epochs": epochs, "optimizer": "sgd"}.items():
        with open(os.path.join(run, "params", key), "w") as f:
            f.write(f"{value}\n")

    # gradient descent on f(w) = (w - 3)^2, from w = 0
    w = 0.0
    with open(os.path.join(run, "metrics", "loss"), "a") as loss_log, \
            open(os.path.join(run, "metrics", "w"), "a") as w_log:
        for step in range(epochs):
            w -= lr * 2 * (w - 3)
            loss = (w - 3) ** 2
            if not math.isfinite(loss) or loss > 1e6:
                # stderr's last lines become the iteration's error_message
                print(f"train.py: diverged at step {step} (learning rate {lr})", file=sys.stderr)
                return 1
            loss_log.write(f"{step} {loss!r}\n")
            loss_log.flush()            # one point per write: visible to readers right away
            w_log.write(f"{step} {w!r}\n")
            w_log.flush()
            print(f"step {step}: loss {loss:.6f}")

    with open(os.path.join(os.environ["DEARDIARY_EXPERIMENT"], "resources",
                           f"weights-{os.environ['DEARDIARY_ITERATION_ID']}.txt"), "w") as f:
        f.write(f"w = {w!r}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
