"""Charts as files (issue 17): metrics/<key>.svg and experiments/<e>/charts/<key>.svg on a
real mount, data written with `echo ... >>`. Every SVG is parsed with an XML parser
(xml.etree), rendered to PNG by a real renderer (rsvg-convert, Debian librsvg2-bin) and
the PNG checked to be drawn; polyline point counts and axis ranges are checked against
the data written; writes are refused; the database is unchanged by every refusal."""
import os
import re
import shutil
import stat
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib

import pytest

from helpers_tracking import make_run, ok, refused, sh, snapshot

NS = {"s": "http://www.w3.org/2000/svg"}
RSVG = shutil.which("rsvg-convert")
PLOT = (80.0, 780.0, 36.0, 330.0)      # svg.h: the plot area, x0 x1 y0 y1


# ---------------------------------------------------------------- reading charts

def parse(path):
    """The chart's root element; the file is well-formed XML or this raises."""
    with open(path, "rb") as f:
        data = f.read()
    return ET.fromstring(data), data


def polylines(root):
    out = []
    for pl in root.iter("{%s}polyline" % NS["s"]):
        pts = [tuple(float(c) for c in p.split(",")) for p in pl.get("points").split()]
        out.append((pl.get("stroke"), pts))
    return out


def ticks(root, axis):
    """[(value, pixel)] of the x or y tick labels."""
    g = root.find(".//s:g[@id='%s-ticks']" % axis, NS)
    out = []
    for t in g.findall("s:text", NS):
        px = float(t.get("x")) if axis == "x" else float(t.get("y")) - 4
        out.append((float(t.text), px))
    return out


def axis_map(tk):
    """Pixel -> value for an axis, from its first and last tick (the axis' ends)."""
    (v0, p0), (v1, p1) = tk[0], tk[-1]
    return lambda px: v0 + (px - p0) * (v1 - v0) / (p1 - p0)


def png_pixels(png):
    """(width, height, bytes per pixel, rows) of an 8-bit RGB or RGBA PNG (rsvg-convert's),
    decoded with zlib and the PNG filters (no imaging library needed)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    while pos < len(png):
        n, typ = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif typ == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def rendered_colours(path, tmp_path):
    """Render the SVG with rsvg-convert; return {(r, g, b): pixel count} of the opaque
    pixels."""
    png = str(tmp_path / (os.path.basename(path) + ".png"))
    r = subprocess.run([RSVG, "-f", "png", "-o", png, path], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with open(png, "rb") as f:
        w, h, bpp, rows = png_pixels(f.read())
    assert w == 800 and h >= 380, (w, h)
    colours = {}
    for row in rows:
        for x in range(0, len(row), bpp):
            if bpp == 3 or row[x + 3] == 255:
                k = (row[x], row[x + 1], row[x + 2])
                colours[k] = colours.get(k, 0) + 1
    return colours


def near(colours, hexcol, tol=40):
    """How many pixels are close to the colour #rrggbb (a drawn series)."""
    want = tuple(int(hexcol[i:i + 2], 16) for i in (1, 3, 5))
    return sum(n for c, n in colours.items()
               if sum(abs(a - b) for a, b in zip(c, want)) <= tol)


def check_drawn(path, tmp_path, series_colours):
    colours = rendered_colours(path, tmp_path)
    white = colours.get((255, 255, 255), 0)
    assert white > 0 and sum(colours.values()) - white > 1000, "blank rendering"
    for col in series_colours:
        assert near(colours, col) >= 3, "series colour %s not drawn" % col


needs_rsvg = pytest.mark.skipif(RSVG is None, reason="rsvg-convert missing: "
                                "bash scripts/setup.sh --test")


# ---------------------------------------------------------------- one series

@needs_rsvg
def test_metric_chart_draws_the_written_points(mnt, tmp_path):
    _, run, iid = make_run(mnt, "p", "e")
    values = [(0, 2.5), (1, 1.75), (2, 1.5), (5, 0.875), (9, 0.5), (10, 0.625)]
    ok(mnt, "\n".join('echo "%d %s" >> %s/metrics/loss' % (s, v, run) for s, v in values))
    path = mnt.p(run, "metrics", "loss.svg")
    root, data = parse(path)
    assert root.tag == "{%s}svg" % NS["s"] and root.get("version") == "1.1"
    assert root.find("s:title", NS).text == "loss \u00b7 iteration %s" % iid
    (colour, pts), = polylines(root)
    assert len(pts) == len(values)
    # axes: the ticks bracket the data; each point maps back to its step and value
    xt, yt = ticks(root, "x"), ticks(root, "y")
    assert xt[0][0] <= 0 and xt[-1][0] >= 10 and yt[0][0] <= 0.5 and yt[-1][0] >= 2.5
    assert all(float(v).is_integer() for v, _ in xt)         # steps: whole numbers
    fx, fy = axis_map(xt), axis_map(yt)
    for (s, v), (px, py) in zip(values, pts):
        assert abs(fx(px) - s) <= 0.05 * (xt[-1][0] - xt[0][0]) / 70
        assert abs(fy(py) - v) <= (yt[-1][0] - yt[0][0]) / 294 * 0.6
        assert PLOT[0] <= px <= PLOT[1] and PLOT[2] <= py <= PLOT[3]
    desc = root.find("s:desc", NS).text
    assert "6 points, x 0..10, y 0.5..2.5" in desc
    check_drawn(path, tmp_path, [colour])
    # stat: read-only, the size is what a read gives, the time is the series'
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o444
    assert st.st_size == len(data)
    assert st.st_mtime_ns == os.stat(mnt.p(run, "metrics", "loss")).st_mtime_ns
    # regenerated on every read: a new point is drawn by the next open
    ok(mnt, 'echo "11 3.5" >> %s/metrics/loss' % run)
    root, data = parse(path)
    assert len(polylines(root)[0][1]) == 7
    assert ticks(root, "y")[-1][0] >= 3.5
    assert os.stat(path).st_size == len(data)
    # a series deleted and logged again is a new series: its own chart
    ok(mnt, 'rm %s/metrics/loss\necho "0 9.5" >> %s/metrics/loss' % (run, run))
    root, data = parse(path)
    assert polylines(root)[0][1] and len(polylines(root)[0][1]) == 1
    assert "1 points, x 0..0, y 9.5..9.5" in root.find("s:desc", NS).text


def test_ls_lists_a_chart_per_metric(mnt):
    _, run, _ = make_run(mnt, "p", "e")
    ok(mnt, "echo 1 >> {r}/metrics/loss\necho 2 >> {r}/metrics/acc\necho 3 > {r}/params/lr"
       .format(r=run))
    out = ok(mnt, "ls %s/metrics" % run).split()
    assert out == ["acc", "acc.svg", "loss", "loss.svg"]
    # the listing's sizes and modes are those of stat (ls -l uses the listing's)
    for name in ("acc.svg", "loss.svg"):
        st = os.lstat(mnt.p(run, "metrics", name))
        with open(mnt.p(run, "metrics", name), "rb") as f:
            assert len(f.read()) == st.st_size
        assert stat.S_IMODE(st.st_mode) == 0o444
    assert "charts" in os.listdir(mnt.p("projects/p/experiments/e"))
    # find sees them; a plain copy of the tree carries them
    found = ok(mnt, "find %s/metrics -name '*.svg' | sort" % run).split()
    assert [os.path.basename(p) for p in found] == ["acc.svg", "loss.svg"]
    dst = str(mnt.root) + "/copy"
    ok(mnt, "cp -r %s/metrics %s" % (run, dst))
    ET.parse(dst + "/loss.svg")


@needs_rsvg
def test_single_point_and_constant_series_draw(mnt, tmp_path):
    _, run, _ = make_run(mnt, "p", "e")
    ok(mnt, "echo '7 -2.25' >> {r}/metrics/one\n"
            "for i in 1 2 3 4 5; do echo 0.5 >> {r}/metrics/flat; done".format(r=run))
    root, data = parse(mnt.p(run, "metrics", "one.svg"))
    assert b"nan" not in data.lower() and b"inf" not in data.lower()
    (colour, pts), = polylines(root)
    assert len(pts) == 1
    dot = root.find("s:circle", NS)
    assert dot is not None and (float(dot.get("cx")), float(dot.get("cy"))) == pts[0]
    xt, yt = ticks(root, "x"), ticks(root, "y")
    assert xt[0][0] < 7 < xt[-1][0] and yt[0][0] < -2.25 < yt[-1][0]
    check_drawn(mnt.p(run, "metrics", "one.svg"), tmp_path, [colour])

    root, data = parse(mnt.p(run, "metrics", "flat.svg"))
    (colour, pts), = polylines(root)
    assert len(pts) == 5 and len({y for _, y in pts}) == 1     # a flat line ...
    yt = ticks(root, "y")
    assert yt[0][0] < 0.5 < yt[-1][0]                           # ... inside the frame
    assert abs(axis_map(yt)(pts[0][1]) - 0.5) < 0.01
    check_drawn(mnt.p(run, "metrics", "flat.svg"), tmp_path, [colour])


@needs_rsvg
def test_million_point_series_is_small_and_keeps_its_shape(mnt, tmp_path):
    _, run, _ = make_run(mnt, "p", "e")
    n = 1000000
    # a decaying curve with one spike up at 123457 and one down at 876543
    def value(i):
        if i == 123457:
            return 50.0
        if i == 876543:
            return -50.0
        return round(10.0 / (1 + i / 1000.0) + (i % 7) * 0.01, 6)
    path = mnt.p(run, "metrics", "loss")
    with open(path, "a") as f:
        chunk = []
        for i in range(n):
            chunk.append("%d %r\n" % (i, value(i)))
            if len(chunk) == 20000:
                f.write("".join(chunk))
                f.flush()
                chunk = []
        f.write("".join(chunk))
    svg = mnt.p(run, "metrics", "loss.svg")
    size = os.stat(svg).st_size
    assert size < 200 * 1024
    root, data = parse(svg)
    assert len(data) == size
    (colour, pts), = polylines(root)
    assert 700 <= len(pts) <= 4 * 700
    desc = root.find("s:desc", NS).text
    m = re.search(r"(\d+) points, x (\S+)\.\.(\S+), y (\S+)\.\.(\S+)", desc)
    assert m and float(m.group(2)) == 0 and float(m.group(3)) == n - 1
    assert float(m.group(4)) == -50.0 and float(m.group(5)) == 50.0    # both spikes kept
    xt, yt = ticks(root, "x"), ticks(root, "y")
    assert xt[0][0] <= 0 and xt[-1][0] >= n - 1 and yt[0][0] <= -50 and yt[-1][0] >= 50
    fy, fx = axis_map(yt), axis_map(xt)
    top = min(pts, key=lambda p: p[1])
    bottom = max(pts, key=lambda p: p[1])
    assert abs(fy(top[1]) - 50) < 0.5 and abs(fx(top[0]) - 123457) < 2000
    assert abs(fy(bottom[1]) + 50) < 0.5 and abs(fx(bottom[0]) - 876543) < 2000
    assert pts[0][0] == PLOT[0] and abs(fx(pts[-1][0]) - (n - 1)) < 1500
    check_drawn(svg, tmp_path, [colour])


# ---------------------------------------------------------------- an experiment's charts

@needs_rsvg
def test_experiment_charts_overlay_every_iteration(mnt, tmp_path):
    exp, r1, i1 = make_run(mnt, "p", "sweep")
    _, r2, i2 = make_run(mnt, "p", "sweep")
    _, r3, i3 = make_run(mnt, "p", "sweep")
    ok(mnt, """
    for i in 1 2 3 4; do echo "$i 0.$i" >> {r1}/metrics/loss; done
    for i in 1 2 3 4 5 6 7 8; do echo "$i 0.$((9 - i))" >> {r2}/metrics/loss; done
    echo 0.9 >> {r3}/metrics/acc
    echo FAILED > {r2}/status
    """.format(r1=r1, r2=r2, r3=r3))
    assert sorted(os.listdir(mnt.p(exp, "charts"))) == ["acc.svg", "loss.svg"]
    path = mnt.p(exp, "charts", "loss.svg")
    root, data = parse(path)
    assert os.stat(path).st_size == len(data)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o444
    assert root.find("s:title", NS).text == "loss \u00b7 experiment sweep"
    lines = polylines(root)
    assert [len(p) for _, p in lines] == [4, 8]
    assert len({c for c, _ in lines}) == 2                     # one colour per iteration
    legend = [t.text for t in root.find(".//s:g[@id='legend']", NS).findall("s:text", NS)]
    assert legend == ["#%s RUNNING" % i1, "#%s FAILED" % i2]
    # one axis for all: both series inside it
    yt = ticks(root, "y")
    assert yt[0][0] <= 0.1 and yt[-1][0] >= 0.8
    check_drawn(path, tmp_path, [c for c, _ in lines])
    root, _ = parse(mnt.p(exp, "charts", "acc.svg"))
    assert len(polylines(root)) == 1
    # a drawing kept by the daemon is the same bytes; a change of what it shows is drawn
    assert parse(path)[1] == data
    ok(mnt, "echo '9 0.05' >> %s/metrics/loss\necho SUCCEEDED > %s/status" % (r1, r1))
    root, data = parse(path)
    legend = [t.text for t in root.find(".//s:g[@id='legend']", NS).findall("s:text", NS)]
    assert legend == ["#%s SUCCEEDED" % i1, "#%s FAILED" % i2]
    assert [len(p) for _, p in polylines(root)] == [5, 8]
    assert os.stat(path).st_size == len(data)
    # a key's chart goes when its last series goes
    ok(mnt, "rm %s/metrics/acc" % r3)
    assert os.listdir(mnt.p(exp, "charts")) == ["loss.svg"]
    assert not os.path.exists(mnt.p(exp, "charts", "acc.svg"))


def test_svg_suffix_keys_do_not_clash(mnt):
    """README: the chart of key K is K.svg; in metrics/ a metric file of that name wins
    (the chart of K is then only in the experiment's charts/)."""
    exp, run, _ = make_run(mnt, "p", "e")
    ok(mnt, "echo 3 >> {r}/metrics/y.svg\necho 1 >> {r}/metrics/x".format(r=run))
    # metrics/x.svg is now the chart of x: a write there is refused, not a new key ...
    before = snapshot(mnt.db)
    refused(mnt, "echo 2 >> %s/metrics/x.svg" % run, "Operation not permitted")
    assert snapshot(mnt.db) == before
    # ... which metrics.json (or the REST API) logs; then the metric takes the name
    ok(mnt, """echo '{"x.svg": 2}' > %s/metrics.json""" % run)
    assert sorted(os.listdir(mnt.p(run, "metrics"))) == [
        "x", "x.svg", "x.svg.svg", "y.svg", "y.svg.svg"]
    with open(mnt.p(run, "metrics", "x.svg")) as f:
        assert f.read().split()[:2] == ["0", "2"]       # the metric, not a chart
    assert stat.S_IMODE(os.stat(mnt.p(run, "metrics", "x.svg")).st_mode) == 0o644
    parse(mnt.p(run, "metrics", "x.svg.svg"))
    assert sorted(os.listdir(mnt.p(exp, "charts"))) == ["x.svg", "x.svg.svg", "y.svg.svg"]
    root, _ = parse(mnt.p(exp, "charts", "x.svg"))
    assert root.find("s:title", NS).text.startswith("x \u00b7")
    # appending to the metric x.svg still works; y.svg.svg is the chart of y.svg
    ok(mnt, "echo 4 >> %s/metrics/x.svg" % run)
    root, _ = parse(mnt.p(run, "metrics", "y.svg.svg"))
    assert root.find("s:title", NS).text.startswith("y.svg \u00b7")


def test_user_text_is_escaped(mnt):
    exp, run, _ = make_run(mnt, "p", "e")
    key = "a&b<c>\"d'e \u00e9"
    with open(mnt.p(run, "metrics", key), "a") as f:
        f.write("0.5\n")
    for path in (mnt.p(run, "metrics", key + ".svg"), mnt.p(exp, "charts", key + ".svg")):
        root, _ = parse(path)
        assert root.find("s:title", NS).text.startswith(key + " \u00b7")


# ---------------------------------------------------------------- refusals

def test_charts_refuse_writes(mnt):
    exp, run, _ = make_run(mnt, "p", "e")
    ok(mnt, "echo 1 >> %s/metrics/loss" % run)
    before = snapshot(mnt.db)
    m, c = run + "/metrics/loss.svg", exp + "/charts/loss.svg"
    for path in (m, c):
        refused(mnt, "echo x > %s" % path, "Operation not permitted")
        refused(mnt, "echo x >> %s" % path, "Operation not permitted")
        refused(mnt, "truncate -s 0 %s" % path, "Operation not permitted")
        refused(mnt, "rm %s" % path, "Operation not permitted")
        refused(mnt, "chmod 644 %s" % path, "Operation not permitted")
    refused(mnt, "touch %s/charts/new.svg" % exp, "Permission denied")
    refused(mnt, "cp %s %s/charts/copy.svg" % (m, exp), "Permission denied")
    refused(mnt, "mkdir %s/charts/d" % exp, "Operation not permitted")
    refused(mnt, "mv %s %s/metrics/moved" % (m, run), "Operation not permitted")
    refused(mnt, "rmdir %s/charts" % exp, "Operation not permitted")
    assert snapshot(mnt.db) == before
    # an ended iteration: still drawn, still read-only
    ok(mnt, "echo SUCCEEDED > %s/status" % run)
    parse(mnt.p(m))
    refused(mnt, "echo x > %s" % m, "Read-only file system")


def test_rm_r_takes_the_charts_with_it(mnt):
    exp, run, _ = make_run(mnt, "p", "e")
    _, run2, _ = make_run(mnt, "p", "e")
    ok(mnt, "echo 1 >> {r}/metrics/loss\necho 2 >> {r2}/metrics/loss".format(r=run, r2=run2))
    ok(mnt, "rm -r %s" % run)
    assert not os.path.exists(mnt.p(run))
    root, _ = parse(mnt.p(exp, "charts", "loss.svg"))
    assert len(polylines(root)) == 1
    ok(mnt, "rm -r %s" % exp)
    assert not os.path.exists(mnt.p(exp))
