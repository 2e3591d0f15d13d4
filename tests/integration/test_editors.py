"""Editors, in-place tools and DVC on a real mount (issue 12, items 5, 12 and 13):
params.yaml written in any number of write()s, vim, sed -i, perl -pi, nano and Python's
atomic-write pattern on every writable file, and params.yaml / metrics.json as DVC
writes and reads them."""
import errno
import os
import subprocess

import pytest
import yaml

from conftest import sqlite_rows
from helpers_tracking import counts, make_run, ok, read, refused, sh, snapshot


def params(mnt, iid):
    return sqlite_rows(mnt.db, "SELECT key, value FROM parameter WHERE iteration_id = %s "
                               "ORDER BY key" % iid)


# ---------------------------------------------------------------- item 5: params.yaml whole

def test_params_yaml_nested_written_line_by_line(mnt):
    # bash's printf and echo write line by line: "train:" alone is an unfinished document,
    # not a bad one, and "  lr: 0.1" must land under train, never as a top-level key.
    exp, run, iid = make_run(mnt)
    ok(mnt, "printf 'train:\\n  lr: 0.1\\n' > %s/params.yaml" % run)
    assert params(mnt, iid) == [["train.lr", "0.1"]]
    ok(mnt, "{ echo train:; echo '  lr: 0.2'; echo '  epochs: 3'; } > %s/params.yaml" % run)
    assert params(mnt, iid) == [["train.epochs", "3"], ["train.lr", "0.2"]]
    # a value on the line after its key, an unterminated flow mapping closed later
    ok(mnt, "{ echo 'a:'; echo '  7'; echo 'b: {c: 1,'; echo '  d: 2}'; } >> %s/params.yaml"
       % run)
    assert ["a", "7"] in params(mnt, iid) and ["b.d", "2"] in params(mnt, iid)
    # Python writing one line per write(), flushed each time
    with open(mnt.p(run, "params.yaml"), "a") as f:
        for line in ("opt:\n", "  name: adam\n", "  betas:\n", "    b1: 0.9\n"):
            f.write(line)
            f.flush()
    assert ["opt.betas.b1", "0.9"] in params(mnt, iid)
    assert ["name", "adam"] not in params(mnt, iid)


def test_params_yaml_invalid_in_several_writes_changes_nothing(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo 1 > %s/params/existing" % run)
    before = snapshot(mnt.db)
    # one printf, two lines: the second line repeats a key: bash sees the write fail
    refused(mnt, "printf 'x: 1\\nx: 2\\n' > %s/params.yaml" % run, "Invalid argument")
    refused(mnt, "{ echo train:; echo '  lr: 0.1'; echo '  lr: 0.2'; } > %s/params.yaml"
            % run, "Invalid argument")
    refused(mnt, "{ echo 'a: 1'; echo 'b:'; echo '  - x'; } > %s/params.yaml" % run,
            "Invalid argument")
    assert snapshot(mnt.db) == before
    # Python sees the refusal at write() (or, for a document only judged whole, at close)
    for lines in (["p: 1\n", "q:\n", "  - 1\n"], ["p: 1\n", "q:\n"], ["p: 'open\n"]):
        with pytest.raises(OSError) as ei:
            with open(mnt.p(run, "params.yaml"), "w") as f:
                for line in lines:
                    f.write(line)
                    f.flush()
        assert ei.value.errno == errno.EINVAL, lines
        assert snapshot(mnt.db) == before, lines
    # dd and cp check write() and close()
    src = os.path.join(mnt.root, "bad.yaml")
    with open(src, "w") as f:
        f.write("train:\n  lr: 0.1\nlast:\n")          # a key without a value, at the end
    for cmd in ("dd if='%s' of=%s/params.yaml bs=5 status=none" % (src, run),
                "cp '%s' %s/params.yaml" % (src, run)):
        refused(mnt, cmd, "Invalid argument")
        assert snapshot(mnt.db) == before, cmd
    # syslog names the line (the foreground daemon copies it to its stderr)
    assert 'line 2: "x" is given twice' in mnt.output()
    assert 'line 3: "last" has no value' in mnt.output()
