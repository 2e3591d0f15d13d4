"""Parameters, params.yaml, metrics, metrics.json, env/ and iteration.yaml - driven with
bash, coreutils, sed and Python's open()."""
import errno
import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import db_exec, sqlite_rows
from helpers_tracking import (TS_RE, counts, make_run, mode, ok, parse_metric, poll, read,
                              refused, sh, sig_digits, snapshot)

# conftest: each test that takes `mnt` runs over a local and a remote mount
REMOTE = True
REMOTE_NOT_YET = {}  # test -> why it cannot run remote yet


def params(mnt, iid):
    return sqlite_rows(mnt.db, "SELECT key, value FROM parameter WHERE iteration_id = %s "
                               "ORDER BY key" % iid)


def points(mnt, iid, key):
    """[step, value] rows; the value as Python prints the float (as the sqlite3 shell does;
    psql prints 1.0 as 1)."""
    return [[s, repr(float(v))] for s, v in sqlite_rows(
        mnt.db, "SELECT step, value FROM metric WHERE iteration_id = %s AND key = '%s'"
                " ORDER BY step, id" % (iid, key))]


# ---------------------------------------------------------------- params

def test_param_set_overwrite_cat_rm(mnt):
    exp, run, iid = make_run(mnt)
    out = ok(mnt, """
    echo 7 > {r}/params/max_depth
    cat {r}/params/max_depth
    echo 12 > {r}/params/max_depth
    cat {r}/params/max_depth
    echo gini > {r}/params/criterion
    ls {r}/params
    """.format(r=run))
    assert out == "7\n12\ncriterion\nmax_depth\n"
    assert params(mnt, iid) == [["criterion", "gini"], ["max_depth", "12"]]
    ok(mnt, "rm %s/params/max_depth" % run)
    assert os.listdir(mnt.p(run, "params")) == ["criterion"]
    assert not os.path.exists(mnt.p(run, "params", "max_depth"))
    assert params(mnt, iid) == [["criterion", "gini"]]


def test_param_value_with_spaces_and_utf8(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo 'adam with β=0.9' > %s/params/optimizer" % run)
    assert read(mnt, run + "/params/optimizer") == "adam with β=0.9\n".encode()
    assert params(mnt, iid) == [["optimizer", "adam with β=0.9"]]


def test_sed_i_edits_a_param(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo 7 > %s/params/max_depth\necho keep > %s/params/other" % (run, run))
    ok(mnt, "sed -i s/7/8/ %s/params/max_depth" % run)
    assert read(mnt, run + "/params/max_depth") == b"8\n"
    assert params(mnt, iid) == [["max_depth", "8"], ["other", "keep"]]
    # no temporary file left behind
    assert sorted(os.listdir(mnt.p(run, "params"))) == ["max_depth", "other"]


def test_empty_param_value_creates_nothing(mnt):
    # Interpretation: `printf '' > params/x` issues no write at all, so there is no value
    # to refuse; it must not create an (empty) parameter. A lone newline is an empty value
    # and gets EINVAL from write().
    exp, run, iid = make_run(mnt)
    sh(mnt, "printf '' > %s/params/nothing" % run)
    assert os.listdir(mnt.p(run, "params")) == []
    refused(mnt, "echo > %s/params/blank" % run, "Invalid argument")
    assert os.listdir(mnt.p(run, "params")) == []
    assert counts(mnt.db)["parameter"] == 0


def test_params_yaml_reads_every_param(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, """
    echo 7 > {r}/params/max_depth
    echo gini > {r}/params/criterion
    echo 'x: y #z' > {r}/params/tricky
    echo 0.001 > {r}/params/lr
    """.format(r=run))
    text = read(mnt, run + "/params.yaml").decode()
    data = yaml.safe_load(text)
    assert {k: str(v) for k, v in data.items()} == {
        "max_depth": "7", "criterion": "gini", "tricky": "x: y #z", "lr": "0.001"}
    assert data["max_depth"] == 7


def test_cat_yaml_into_params_yaml(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo old > %s/params/untouched" % run)
    src = os.path.join(mnt.root, "my.yaml")
    with open(src, "w") as f:
        f.write("max_depth: 7\ncriterion: gini\nopt:\n  name: adam\n  betas:\n"
                "    b1: 0.9\n    b2: 0.999\nlr: 0.01\n")
    ok(mnt, "cat '%s' >> %s/params.yaml" % (src, run))        # >> adds to the set
    assert params(mnt, iid) == [["criterion", "gini"], ["lr", "0.01"], ["max_depth", "7"],
                                ["opt.betas.b1", "0.9"], ["opt.betas.b2", "0.999"],
                                ["opt.name", "adam"], ["untouched", "old"]]
    assert read(mnt, run + "/params/opt.betas.b2") == b"0.999\n"
    data = yaml.safe_load(read(mnt, run + "/params.yaml"))     # nested, as DVC writes it
    assert data["opt"]["name"] == "adam" and data["max_depth"] == 7
    # > replaces the whole parameter set
    with open(src, "w") as f:
        f.write("max_depth: 9\n")
    ok(mnt, "cat '%s' > %s/params.yaml" % (src, run))
    assert read(mnt, run + "/params/max_depth") == b"9\n"
    assert params(mnt, iid) == [["max_depth", "9"]]


def test_params_yaml_written_in_several_writes(mnt):
    # bash's printf builtin writes line by line; a program may flush per line: the
    # document is what the whole open-write-close says, not each write.
    exp, run, iid = make_run(mnt)
    ok(mnt, "printf 'a: 1\\nb:\\n  c: two\\n  d: 3\\n' > %s/params.yaml" % run)
    assert params(mnt, iid) == [["a", "1"], ["b.c", "two"], ["b.d", "3"]]
    with open(mnt.p(run, "params.yaml"), "w") as f:
        for line in ("x: 1\n", "y:\n", "  z: 2\n"):
            f.write(line)
            f.flush()
    assert params(mnt, iid) == [["x", "1"], ["y.z", "2"]]     # "w" (O_TRUNC): the whole set
    with pytest.raises(OSError) as ei:
        with open(mnt.p(run, "params.yaml"), "w") as f:
            f.write("p: 1\n")
            f.flush()
            f.write("q: [1, 2]\n")
    assert ei.value.errno == errno.EINVAL
    assert counts(mnt.db)["parameter"] == 2          # nothing of that document


def test_bad_params_yaml_stores_nothing(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo 1 > %s/params/existing" % run)
    before = snapshot(mnt.db)
    src = os.path.join(mnt.root, "bad.yaml")
    for text in ("a: 1\nb: [1, 2]\n",           # a list
                 "a: 1\nb:\n  - x\n  - y\n",    # a block list
                 "a: 1\nexisting: 2\nc: : :\n",  # not YAML
                 "a: 1\n'unterminated: 2\n"):
        with open(src, "w") as f:
            f.write(text)
        refused(mnt, "cat '%s' > %s/params.yaml" % (src, run), "Invalid argument")
        assert snapshot(mnt.db) == before, text
    assert os.listdir(mnt.p(run, "params")) == ["existing"]


def test_large_params_yaml_is_one_transaction(mnt):
    # `cat` writes a file larger than its buffer in several write() calls; the README
    # promises one transaction: a bad YAML stores nothing, whatever its size.
    exp, run, iid = make_run(mnt)
    src = os.path.join(mnt.root, "big.yaml")
    with open(src, "w") as f:
        for i in range(20000):
            f.write("key%05d: value%d\n" % (i, i))
        f.write("bad: [1, 2]\n")
    assert os.path.getsize(src) > 256 * 1024
    refused(mnt, "cat '%s' > %s/params.yaml" % (src, run), "Invalid argument")
    assert counts(mnt.db)["parameter"] == 0


def test_large_params_yaml_with_nested_mapping(mnt):
    # A nested mapping whose "key:" line ends exactly at cat's 128 KiB write boundary:
    # the document is valid and must be stored whole, however it is cut into writes.
    exp, run, iid = make_run(mnt)
    src = os.path.join(mnt.root, "big.yaml")
    body = []
    size = 0
    i = 0
    while size < 128 * 1024 - 200:
        line = "key%05d: value%d\n" % (i, i)
        body.append(line)
        size += len(line)
        i += 1
    head = "nested:\n"
    pad = 128 * 1024 - size - len(head)
    body.append("pad: %s\n" % ("x" * (pad - len("pad: \n"))))
    body.append(head)
    body.append("  a: 1\n  b: two\n")
    text = "".join(body)
    assert text.index(head) + len(head) == 128 * 1024
    with open(src, "w") as f:
        f.write(text)
    ok(mnt, "cat '%s' > %s/params.yaml" % (src, run))
    assert counts(mnt.db)["parameter"] == i + 3
    assert read(mnt, run + "/params/nested.b") == b"two\n"


def test_params_yaml_bad_key_names_store_nothing(mnt):
    # Names with '/' or control characters cannot be typed in a path, but a YAML key can
    # carry them: they are bad names (EINVAL) and nothing of the document is stored.
    exp, run, iid = make_run(mnt)
    src = os.path.join(mnt.root, "bad.yaml")
    for text in ('ok: 1\n"a/b": 2\n', 'ok: 1\n"a\\tb": 2\n', 'ok: 1\n"..": 2\n'):
        with open(src, "w") as f:
            f.write(text)
        refused(mnt, "cat '%s' > %s/params.yaml" % (src, run), "Invalid argument")
        assert counts(mnt.db)["parameter"] == 0, text


# ---------------------------------------------------------------- metrics

def test_metric_line_forms_and_default_steps(mnt):
    exp, run, iid = make_run(mnt)
    m = run + "/metrics/accuracy"
    ok(mnt, """
    echo 0.5 >> {m}
    echo 0.6 >> {m}
    echo '10 0.7' >> {m}
    echo 0.8 >> {m}
    echo '3 0.55 2026-01-02T03:04:05Z' >> {m}
    echo '4 0.56 2026-01-02T05:04:05+02:00' >> {m}
    echo '5 0.57 1700000000' >> {m}
    echo 0.9 >> {m}
    echo 1 >> {r}/metrics/other
    """.format(m=m, r=run))
    pts = parse_metric(read(mnt, m).decode())
    assert [(s, v) for s, v, _, _ in pts] == [(0, 0.5), (1, 0.6), (3, 0.55), (4, 0.56),
                                              (5, 0.57), (10, 0.7), (11, 0.8), (12, 0.9)]
    ts = {s: t for s, _, t, _ in pts}
    assert ts[3] == "2026-01-02T03:04:05.000Z"
    assert ts[4] == "2026-01-02T03:04:05.000Z"            # offset converted to UTC
    assert ts[5] == "2023-11-14T22:13:20.000Z"            # Unix seconds
    # default steps are per key
    assert points(mnt, iid, "other") == [["0", "1.0"]]
    assert len(points(mnt, iid, "accuracy")) == 8


def test_overwrite_redirect_appends(mnt):
    exp, run, iid = make_run(mnt)
    m = run + "/metrics/loss"
    ok(mnt, "echo 0.5 > {m}\necho 0.4 > {m}\necho 0.3 >> {m}".format(m=m))
    pts = parse_metric(read(mnt, m).decode())
    assert [(s, v) for s, v, _, _ in pts] == [(0, 0.5), (1, 0.4), (2, 0.3)]


def test_one_write_of_many_lines_is_one_batch(mnt):
    exp, run, iid = make_run(mnt)
    m = run + "/metrics/loss"
    # coreutils printf issues a single write(); every default-time point of one batch
    # shares one recorded_at
    ok(mnt, "/usr/bin/printf '0.9\\n0.8\\n0.7\\n5 0.95\\n6 0.96 2026-11-23T12:00:00Z\\n' >> %s"
       % m)
    pts = parse_metric(read(mnt, m).decode())
    assert [(s, v) for s, v, _, _ in pts] == [(0, 0.9), (1, 0.8), (2, 0.7), (5, 0.95),
                                              (6, 0.96)]
    assert len({t for s, _, t, _ in pts if s < 3}) == 1
    assert pts[4][2] == "2026-11-23T12:00:00.000Z"
    # a batch with one bad line is refused whole
    before = snapshot(mnt.db)
    refused(mnt, "/usr/bin/printf '0.1\\n0.2\\nnan\\n' >> %s" % m, "Invalid argument")
    assert snapshot(mnt.db) == before


def test_reading_format_and_shortest_floats(mnt):
    exp, run, iid = make_run(mnt)
    m = run + "/metrics/v"
    values = ["0.1", "1e-05", "0.30000000000000004", "123456.789", "-2.5", "1e+100",
              "3", "1.5e-300", "0.000123", "100"]
    ok(mnt, "/usr/bin/printf '%s\\n' >> %s" % ("\\n".join(values), m))
    text = read(mnt, m).decode()
    assert text.endswith("\n")
    pts = parse_metric(text)
    shown = [s for _, _, _, s in pts]
    assert shown[:2] == ["0.1", "1e-05"]
    # shortest round trip: as few significant digits as Python's repr needs
    assert [sig_digits(x) for x in shown] == [sig_digits(repr(float(v))) for v in values]
    for (_, v, _, _), src in zip(pts, values):
        assert v == float(src)


def test_metric_stat_size_negative_zero(mnt):
    # -0 is a finite value; whatever form the file shows, stat must agree with cat.
    exp, run, iid = make_run(mnt)
    m = run + "/metrics/v"
    ok(mnt, "echo -0 >> %s\necho 0.5 >> %s" % (m, m))
    data = read(mnt, m)
    assert len(parse_metric(data.decode())) == 2
    assert os.stat(mnt.p(m)).st_size == len(data)


def test_metrics_json_latest_values(mnt):
    exp, run, iid = make_run(mnt)
    assert json.loads(read(mnt, run + "/metrics.json")) == {}
    ok(mnt, """
    printf '0.5\\n0.6\\n0.7\\n' >> {r}/metrics/acc
    echo '1 0.1' >> {r}/metrics/loss
    echo '0 0.9' >> {r}/metrics/loss
    echo 1e-05 >> {r}/metrics/lr
    """.format(r=run))
    text = read(mnt, run + "/metrics.json")
    assert json.loads(text) == {"acc": 0.7, "loss": 0.1, "lr": 1e-05}
    assert os.stat(mnt.p(run, "metrics.json")).st_size == len(text)


def test_refused_metric_lines_store_nothing(mnt):
    exp, run, iid = make_run(mnt)
    m = run + "/metrics/loss"
    ok(mnt, "echo 0.5 >> %s" % m)
    read(mnt, m)   # close_waits journal (PostgreSQL): a read through the mount commits it
    before = snapshot(mnt.db)
    for line in ("nan", "NaN", "inf", "-inf", "Infinity", "3 nan", "abc", "1 2 3 4",
                 "1 2 not-a-time", "x 0.5", "1e400", "0.5 0.6x"):
        refused(mnt, "echo '%s' >> %s" % (line, m), "Invalid argument")
        assert snapshot(mnt.db) == before, line
    # a refused line to a new key creates no series
    refused(mnt, "echo nan >> %s/metrics/fresh" % run, "Invalid argument")
    assert snapshot(mnt.db) == before
    assert os.listdir(mnt.p(run, "metrics")) == ["loss", "loss.svg"]
    assert len(parse_metric(read(mnt, m).decode())) == 1


def test_python_loop_with_print(mnt):
    exp, run, iid = make_run(mnt)
    path = mnt.p(run, "metrics", "loss")
    with open(path, "a") as f:
        for i in range(1000):
            print(i / 1000, file=f)
    pts = parse_metric(read(mnt, run + "/metrics/loss").decode())
    assert [(s, v) for s, v, _, _ in pts] == [(i, i / 1000) for i in range(1000)]
    # line-buffered and flushed per line too
    with open(mnt.p(run, "metrics", "acc"), "a", buffering=1) as f:
        for i in range(50):
            print(f"{i} {i / 7}", file=f)
            f.flush()
    pts = parse_metric(read(mnt, run + "/metrics/acc").decode())
    assert [(s, v) for s, v, _, _ in pts] == [(i, i / 7) for i in range(50)]


def test_partial_line_kept_until_close(mnt):
    exp, run, iid = make_run(mnt)
    path = mnt.p(run, "metrics", "m")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, b"0.2")
        os.write(fd, b"5\n0.")
        os.write(fd, b"75")
    finally:
        os.close(fd)
    pts = parse_metric(read(mnt, run + "/metrics/m").decode())
    assert [(s, v) for s, v, _, _ in pts] == [(0, 0.25), (1, 0.75)]


def test_two_bash_loops_append_concurrently(mnt):
    exp, run, iid = make_run(mnt)
    m = run + "/metrics/conc"
    ok(mnt, """
    (for i in $(seq 1 2000); do echo "1$i" >> {m}; done) &
    (for i in $(seq 1 2000); do echo "2$i" >> {m}; done) &
    wait
    """.format(m=m))
    pts = parse_metric(read(mnt, m).decode())
    assert len(pts) == 4000
    expected = {float("1%d" % i) for i in range(1, 2001)} | {float("2%d" % i)
                                                              for i in range(1, 2001)}
    assert sorted(v for _, v, _, _ in pts) == sorted(expected)
    assert sorted(s for s, _, _, _ in pts) == list(range(4000))
    assert sqlite_rows(mnt.db, "SELECT COUNT(*), COUNT(DISTINCT value) FROM metric") == [
        ["4000", "4000"]]


def test_two_python_writers_append_concurrently(mnt):
    # buffered writers: their write() calls split lines anywhere
    exp, run, iid = make_run(mnt)
    path = mnt.p(run, "metrics", "conc")
    code = ("import sys\n"
            "with open(sys.argv[1], 'a') as f:\n"
            "    for i in range(2000):\n"
            "        print('%d.%04d1' % (int(sys.argv[2]), i), file=f)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, path, str(k)]) for k in (1, 2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    pts = parse_metric(read(mnt, run + "/metrics/conc").decode())
    assert len(pts) == 4000
    expected = sorted(float("%d.%04d1" % (k, i)) for k in (1, 2) for i in range(2000))
    assert sorted(v for _, v, _, _ in pts) == expected


def test_stepped_lines_from_two_writers(mnt):
    exp, run, iid = make_run(mnt)
    m = run + "/metrics/conc"
    ok(mnt, """
    (for i in $(seq 0 999); do echo "$i 1.5" >> {m}; done) &
    (for i in $(seq 1000 1999); do echo "$i 2.5" >> {m}; done) &
    wait
    """.format(m=m))
    pts = parse_metric(read(mnt, m).decode())
    assert [s for s, _, _, _ in pts] == list(range(2000))
    assert all(v == (1.5 if s < 1000 else 2.5) for s, v, _, _ in pts)


# ---------------------------------------------------------------- env / iteration.yaml

def test_env_files_exist_and_are_read_only(mnt):
    exp, run, iid = make_run(mnt)
    names = sorted(os.listdir(mnt.p(run, "env")))
    for n in ("git_sha", "git_dirty", "entrypoint", "julia_version", "Project.toml",
              "Manifest.toml"):
        assert n in names
    for n in names:
        assert mode(mnt, run + "/env/" + n) == 0o444
        read(mnt, run + "/env/" + n)
    assert read(mnt, run + "/env/git_dirty") == b"false\n"
    before = snapshot(mnt.db)
    for n in names:
        refused(mnt, "echo x > '%s/env/%s'" % (run, n), "Operation not permitted")
        refused(mnt, "echo x >> '%s/env/%s'" % (run, n), "Operation not permitted")
    assert snapshot(mnt.db) == before


def test_env_shows_snapshot_columns(mnt):
    exp, run, iid = make_run(mnt)
    # the snapshot is written by the original's clients; here by the engine's CLI
    db_exec(mnt.db,
                    "UPDATE iteration SET git_sha = 'abc123', git_dirty = 1, "
                    "entrypoint = 'train.jl', project_toml = 'name = \"X\"' WHERE id = %s;"
                    "INSERT INTO iteration_file (iteration_id, name, content) VALUES "
                    "(%s, 'requirements.txt', 'numpy==2.0\n');" % (iid, iid))

    def seen():
        try:
            return read(mnt, run + "/env/git_sha") == b"abc123\n"
        except OSError:
            return False
    assert poll(seen, 1.0)
    assert read(mnt, run + "/env/git_dirty") == b"true\n"
    assert read(mnt, run + "/env/entrypoint") == b"train.jl\n"
    assert read(mnt, run + "/env/Project.toml").startswith(b'name = "X"')
    assert read(mnt, run + "/env/requirements.txt") == b"numpy==2.0\n"
    assert mode(mnt, run + "/env/requirements.txt") == 0o444


def test_iteration_yaml_read_only_view(mnt):
    exp, run, iid = make_run(mnt)
    ok(mnt, "echo 'hello notes' > %s/notes" % run)
    data = yaml.safe_load(read(mnt, run + "/iteration.yaml"))
    assert str(data["id"]) == iid
    assert data["status"] == "RUNNING"
    assert data["notes"] == "hello notes"
    assert data["end_date"] is None
    assert TS_RE.match(data["created_date"])
    assert mode(mnt, run + "/iteration.yaml") == 0o444
    before = snapshot(mnt.db)
    refused(mnt, "echo 'status: SUCCEEDED' > %s/iteration.yaml" % run,
            "Operation not permitted")
    assert snapshot(mnt.db) == before
    ok(mnt, "echo KILLED > %s/status" % run)
    data = yaml.safe_load(read(mnt, run + "/iteration.yaml"))
    assert data["status"] == "KILLED" and TS_RE.match(data["end_date"])
