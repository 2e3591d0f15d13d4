"""Editors, in-place tools and DVC on a real mount (issue 12, items 5, 12 and 13):
params.yaml written in any number of write()s, vim, sed -i, perl -pi, nano and Python's
atomic-write pattern on every writable file, and params.yaml / metrics.json as DVC
writes and reads them."""
import errno
import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import sqlite_rows
from helpers_tracking import counts, make_run, ok, poll, read, refused, sh, snapshot

# conftest: each test that takes `mnt` runs over a local and a remote mount
REMOTE = True
REMOTE_NOT_YET = {}  # test -> why it cannot run remote yet


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


# ---------------------------------------------------------------- item 12: editors and tools

class Tmux:
    """A real terminal (a tmux server of this test's own, on its own socket) to drive
    interactive editors with keystrokes, as a user types them."""

    def __init__(self, mnt, name):
        self.sock = os.path.join(mnt.root, name + ".tmux")
        self.mnt = mnt
        subprocess.run(["tmux", "-S", self.sock, "new-session", "-d", "-x", "150", "-y", "40",
                        "-c", mnt.path, "env -i PATH=/usr/bin:/bin TERM=xterm HOME=%s "
                        "bash --norc --noprofile" % mnt.root], check=True)
        self.shell = int(subprocess.run(["tmux", "-S", self.sock, "display", "-p", "-t", "0",
                                         "#{pane_pid}"], capture_output=True, text=True,
                                        check=True).stdout)

    def keys(self, *keys):
        subprocess.run(["tmux", "-S", self.sock, "send-keys", "-t", "0", *keys], check=True)

    def screen(self):
        return subprocess.run(["tmux", "-S", self.sock, "capture-pane", "-p", "-t", "0"],
                              capture_output=True, text=True, check=True).stdout

    def wait(self, text, timeout=10):
        """Poll the screen until `text` shows (no fixed sleeps); returns the screen."""
        return poll(lambda: text in self.screen() and self.screen(), timeout) or self.screen()

    def close(self):
        """Stop this test's tmux server and wait for its shell (whose working directory
        is in the mount) to be gone, so that the mount can be unmounted."""
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True)
        poll(lambda: not os.path.exists("/proc/%d" % self.shell), 10)


@pytest.fixture
def term(mnt):
    t = Tmux(mnt, "term")
    yield t
    t.close()


def writable_files(run, exp):
    """Every kind of writable file with a first value: (path, old text, new text)."""
    return [(run + "/params.yaml", "train:\n  lr: 0.1\n", "train:\n  lr: 0.2\n"),
            (run + "/notes", "first note\n", "second note\n"),
            (run + "/params/depth", "7\n", "8\n"),
            (run + "/status", "RUNNING\n", "FAILED\n"),
            (exp + "/description", "sweep\n", "grid sweep\n")]


def only_registry_names(mnt, run):
    """No temporary or swap file is listed, in the run or its params/ and metrics/."""
    names = os.listdir(mnt.p(run)) + os.listdir(mnt.p(run, "params")) + \
        os.listdir(mnt.p(run, "metrics"))
    odd = [n for n in names if n.startswith((".", "sed", "XX", "tmp")) or n.endswith("~")
           or n.isdigit()]
    assert odd == [], odd


def test_vim_edits_every_writable_file(mnt, term):
    exp, run, iid = make_run(mnt)
    for path, old, new in writable_files(run, exp):
        if not path.endswith("status"):
            ok(mnt, "printf '%s' > %s" % (old.replace("\n", "\\n"), path))
        term.keys("vim -u NONE -N -i NONE %s" % path, "Enter")
        term.wait('"%s"' % path)
        # while vim runs, its swap file exists and is no registry data
        assert poll(lambda: os.path.exists(mnt.p(os.path.dirname(path), "." +
                                                 os.path.basename(path) + ".swp")), 5)
        assert "ended" in os.listdir(mnt.p(run))       # the listing still works
        term.keys("ggdG", "i", new.rstrip("\n").replace("\n", "\r"), "Escape", ":wq", "Enter")
        screen = term.wait("$ ", 10)
        assert "E72" not in screen and "E212" not in screen and "E5" not in screen, screen
        assert read(mnt, path).decode() == new, (path, screen)
        assert not os.path.exists(mnt.p(os.path.dirname(path),
                                        "." + os.path.basename(path) + ".swp"))
        term.keys("clear", "Enter")
    assert params(mnt, iid) == [["depth", "8"], ["train.lr", "0.2"]]
    assert read(mnt, run + "/status") == b"FAILED\n"
    assert read(mnt, run + "/notes") == b"second note\n"
    only_registry_names(mnt, run)


def test_sed_perl_python_edit_in_place(mnt):
    exp, run, iid = make_run(mnt)
    for path, old, new in writable_files(run, exp):
        if not path.endswith("status"):
            ok(mnt, "printf '%s' > %s" % (old.replace("\n", "\\n"), path))
    ok(mnt, "echo 0.5 >> %s/metrics/acc" % run)
    # sed -i and perl -pi: a temporary file in the same directory, renamed over the file
    ok(mnt, "sed -i s/first/second/ %s/notes" % run)
    ok(mnt, "sed -i s/0.1/0.2/ %s/params.yaml" % run)
    ok(mnt, "perl -pi -e s/7/8/ %s/params/depth" % run)
    ok(mnt, "perl -pi -e s/sweep/grid/ %s/description" % exp)
    r = sh(mnt, "sed -i s/0.5/0.5/ %s/metrics/acc" % run)
    assert "couldn't" not in r.stderr and r.returncode == 0, r.stderr
    assert read(mnt, run + "/notes") == b"second note\n"
    assert read(mnt, exp + "/description") == b"grid\n"
    assert params(mnt, iid) == [["depth", "8"], ["train.lr", "0.2"]]
    # Python's atomic write: tempfile in the same directory + os.replace
    code = r"""
import os, sys, tempfile
for target, text in ((sys.argv[1] + "/params.yaml", "train:\n  lr: 0.3\n"),
                     (sys.argv[1] + "/params/depth", "9\n"),
                     (sys.argv[1] + "/notes", "third\n")):
    with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(target), delete=False) as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(f.name, target)
"""
    subprocess.run([sys.executable, "-c", code, mnt.p(run)], check=True)
    assert params(mnt, iid) == [["depth", "9"], ["train.lr", "0.3"]]
    assert read(mnt, run + "/notes") == b"third\n"
    only_registry_names(mnt, run)
    assert counts(mnt.db)["parameter"] == 2


def test_rename_commit_refused_keeps_everything(mnt):
    # A refused commit is the rename's errno; the real file keeps its value and the
    # temporary file stays (as after any failed rename) until the tool removes it.
    exp, run, iid = make_run(mnt)
    ok(mnt, "printf 'a: 1\\n' > %s/params.yaml\necho 7 > %s/params/depth" % (run, run))
    before = snapshot(mnt.db)
    for name, text, target, err in ((".status.tmp", "BOGUS\n", "status", errno.EINVAL),
                                    ("tmpabcdefgh", "x: [1]\n", "params.yaml", errno.EINVAL),
                                    ("sedAAAAAA", "\n", "params/depth", errno.EINVAL)):
        d = os.path.dirname(mnt.p(run, target))
        tmp = os.path.join(d, name)
        with open(tmp, "x") as f:
            f.write(text)
        with pytest.raises(OSError) as ei:
            os.replace(tmp, mnt.p(run, target))
        assert ei.value.errno == err, name
        assert snapshot(mnt.db) == before, name
        assert open(tmp).read() == text
        os.unlink(tmp)
        assert not os.path.exists(tmp)
    # scratch files never reach the database, and a scratch rename stays a scratch
    with open(mnt.p(run, ".a.swp"), "w") as f:
        f.write("x" * 10000)
    os.rename(mnt.p(run, ".a.swp"), mnt.p(run, ".b.swp"))
    assert os.path.getsize(mnt.p(run, ".b.swp")) == 10000
    assert not os.path.exists(mnt.p(run, ".a.swp"))
    assert snapshot(mnt.db) == before
    only_registry_names(mnt, run)
    # an ended iteration: the tool's temporary file works, the commit is EROFS
    ok(mnt, "echo SUCCEEDED > %s/status" % run)
    refused(mnt, "sed -i s/a/b/ %s/params.yaml" % run, "Read-only file system")
    assert params(mnt, iid) == [["a", "1"], ["depth", "7"]]


def test_nano_saves_a_param(mnt, term):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo 7 > %s/params/depth\necho hi > %s/notes" % (run, run))
    for path, want in ((run + "/params/depth", b"17\n"), (run + "/notes", b"1hi\n")):
        term.keys("nano --ignorercfiles %s" % path, "Enter")
        term.wait("^X")
        term.keys("1", "C-o")
        term.wait("File Name to Write")
        term.keys("Enter")
        screen = term.wait("Wrote 1 line")
        assert "Error" not in screen and "Permission" not in screen, screen
        term.keys("C-x")
        term.wait("$ ")
        assert read(mnt, path) == want
        term.keys("clear", "Enter")
    only_registry_names(mnt, run)


# ---------------------------------------------------------------- item 13: DVC and YAML

def keyable(text):
    """Can the text be tried as a top-level key? A dot nests ("1.0e3" is 1 -> 0e3, as
    DVC reads it) and a name ending in "~" is an editor's backup (a scratch file)."""
    return "." not in text and not text.endswith("~")


def test_params_yaml_reads_back_nested_and_quoted(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "printf 'train:\\n  lr: 0.1\\n  epochs: 10\\nseed: 42\\n' > %s/params.yaml" % run)
    assert read(mnt, run + "/params.yaml") == b"seed: 42\ntrain:\n  epochs: 10\n  lr: 0.1\n"
    # strings YAML readers would turn into something else, as values and as keys
    tricky = ["yes", "no", "null", "~", "07", "1e3", "1.0e3", "on", "True", "2026-01-01", "0x1F"]
    for i, text in enumerate(tricky):
        ok(mnt, "printf '%%s\\n' '%s' > %s/params/v%d" % (text, run, i))
        if keyable(text):
            ok(mnt, "echo k > '%s/params/%s'" % (run, text))
    ok(mnt, "echo true > %s/params/flag\necho -1.5 > %s/params/neg" % (run, run))
    data = yaml.safe_load(read(mnt, run + "/params.yaml"))
    for i, text in enumerate(tricky):
        assert data["v%d" % i] == text, (text, read(mnt, run + "/params.yaml"))
        assert not keyable(text) or data[text] == "k", text
    # numbers and true/false stay typed, for DVC's comparisons
    assert data["seed"] == 42 and data["train"] == {"lr": 0.1, "epochs": 10}
    assert data["flag"] is True and data["neg"] == -1.5
    # what it shows parses back to exactly the stored strings
    before = params(mnt, iid)
    ok(mnt, "cp %s/params.yaml %s/p.yaml && cat %s/p.yaml > %s/params.yaml"
       % (run, mnt.root, mnt.root, run))
    assert params(mnt, iid) == before


def test_params_yaml_truncate_replaces_append_merges(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo 7 > %s/params/depth" % run)
    depth_ino = os.stat(mnt.p(run, "params", "depth")).st_ino
    ok(mnt, "printf 'depth: 7\\nlr: 0.1\\n' > %s/params.yaml" % run)
    assert params(mnt, iid) == [["depth", "7"], ["lr", "0.1"]]
    assert os.stat(mnt.p(run, "params", "depth")).st_ino == depth_ino   # kept, not re-made
    ok(mnt, "printf 'opt: adam\\n' >> %s/params.yaml" % run)
    assert params(mnt, iid) == [["depth", "7"], ["lr", "0.1"], ["opt", "adam"]]
    ok(mnt, "printf 'lr: 0.2\\n' > %s/params.yaml" % run)
    assert params(mnt, iid) == [["lr", "0.2"]]
    # Python's open("w") is O_TRUNC too; a refused document changes nothing
    with open(mnt.p(run, "params.yaml"), "w") as f:
        f.write("a:\n  b: 1\n")
    assert params(mnt, iid) == [["a.b", "1"]]
    refused(mnt, "printf 'x: [1]\\n' > %s/params.yaml" % run, "Invalid argument")
    assert params(mnt, iid) == [["a.b", "1"]]


def test_script_writes_its_own_metrics_json(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo 0.5 >> %s/metrics/acc" % run)
    # as a DVC stage does: json.dump into metrics.json
    code = ("import json, sys\n"
            "with open(sys.argv[1], 'w') as f:\n"
            "    json.dump({'acc': 0.75, 'train': {'loss': 0.25, 'n': 3}}, f)\n")
    subprocess.run([sys.executable, "-c", code, mnt.p(run, "metrics.json")], check=True)
    rows = sqlite_rows(mnt.db, "SELECT key, step, value FROM metric ORDER BY key, step")
    assert rows == [["acc", "0", "0.5"], ["acc", "1", "0.75"], ["train.loss", "0", "0.25"],
                    ["train.n", "0", "3.0"]]
    assert json.loads(read(mnt, run + "/metrics.json")) == {"acc": 0.75, "train.loss": 0.25,
                                                             "train.n": 3}
    ok(mnt, """echo '{"acc": 0.8}' > %s/metrics.json""" % run)
    assert read(mnt, run + "/metrics/acc").decode().splitlines()[-1].startswith("2 0.8 ")
    # a value that is no number, a list: refused, nothing logged
    before = snapshot(mnt.db)
    refused(mnt, """echo '{"acc": 0.9, "name": "x"}' > %s/metrics.json""" % run,
            "Invalid argument")
    refused(mnt, """echo '{"acc": [1, 2]}' > %s/metrics.json""" % run, "Invalid argument")
    with pytest.raises(OSError) as ei:
        with open(mnt.p(run, "metrics.json"), "w") as f:
            json.dump({"acc": None}, f)
    assert ei.value.errno == errno.EINVAL
    assert snapshot(mnt.db) == before
    assert 'metric "name": "x" is not a finite number' in mnt.output()
    # ended: read-only as before
    ok(mnt, "echo SUCCEEDED > %s/status" % run)
    refused(mnt, """echo '{"acc": 1}' > %s/metrics.json""" % run, "Read-only file system")


def test_scratch_names(mnt):
    # The names tools give temporary files are scratch files where writable files live:
    # they work as files, are never listed nor stored, and go with rm. Other names keep
    # their meaning: a new parameter in params/, EACCES in an iteration's directory.
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo 7 > %s/params/depth" % run)
    before = snapshot(mnt.db)
    listing = {d: sorted(os.listdir(mnt.p(d))) for d in (run, run + "/params",
                                                          run + "/metrics", exp)}
    names = [run + "/" + n for n in (".notes.swp", "notes~", "4913", "#notes#", "x.tmp",
                                     "sedAb12Cd", "XXab12Cd", "tmpab_12cde")]
    names += [run + "/params/.depth.swp", run + "/params/depth~", run + "/metrics/.m.swx",
              exp + "/.description.swp"]
    for n in names:
        ok(mnt, "echo scratch > '%s'\nprintf more >> '%s'" % (n, n))
        assert read(mnt, n) == b"scratch\nmore"
        assert oct(os.stat(mnt.p(n)).st_mode & 0o777) == "0o600"
    assert {d: sorted(os.listdir(mnt.p(d))) for d in listing} == listing
    assert snapshot(mnt.db) == before
    # a scratch file renamed to a name that is no file and no temporary name: refused
    refused(mnt, "mv '%s' %s/stray" % (names[0], run), "Operation not permitted")
    for n in names:
        ok(mnt, "rm '%s'" % n)
        assert not os.path.exists(mnt.p(n))
    refused(mnt, "touch %s/stray" % run, "Permission denied")
    assert snapshot(mnt.db) == before
