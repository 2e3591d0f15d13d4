#!/usr/bin/python3
"""dashboard.py - the dashboard of `deardiary serve` in headless chromium (issue 17),
against baselines measured in the same run:

  experiment page of ITERS (10k) iterations: time until the table is drawn      < 1 s
  iteration page whose 4 series hold POINTS (1M) points: until every chart is drawn < 1 s
  the server's peak RSS (VmHWM) over the whole run                               < 64 MB

Each page's time is read in the browser through the Performance API: the "dd-drawn" mark
app.js sets once the page is in the DOM (table built, uPlot charts drawn), counted from
navigation start, plus the browser's first-contentful-paint. The baseline of each page is
a static copy of the same page (its final DOM, canvases turned into PNG images, no
script) served by nginx from disk: what the same pixels cost with no server work and no
JavaScript at all; its time is loadEventEnd. Ratio = dashboard / baseline.

Also printed: the iteration page's series requests alone (the server's share).
The machine is shared with other engineers' builds and tests: print `uptime` next to it.

Usage: bench/dashboard.py [--bin build/deardiary] [--iters 10000] [--points 1000000]
       [--runs 5]   (needs chromium, chromium-driver, python3-selenium, nginx-light)
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from helpers_browser import Browser  # noqa: E402

NAV = "return performance.getEntriesByType('navigation')[0].toJSON()"
FCP = ("const p = performance.getEntriesByName('first-contentful-paint');"
       "return p.length ? p[0].startTime : null")
DRAWN = ("const m = performance.getEntriesByName('dd-drawn');"
         "return m.length ? m[m.length - 1].startTime : null")
# The page as it stands, with every canvas replaced by its pixels and no script.
SNAPSHOT = """
const doc = document.documentElement.cloneNode(true);
const live = document.querySelectorAll('canvas');
doc.querySelectorAll('canvas').forEach((c, i) => {
  const img = document.createElement('img');
  img.src = live[i].toDataURL('image/png');
  img.width = live[i].clientWidth; img.height = live[i].clientHeight;
  c.replaceWith(img);
});
doc.querySelectorAll('script').forEach((s) => s.remove());
return '<!doctype html>\\n' + doc.outerHTML;
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url):
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("no answer from " + url)


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def read_fcp(b):
    """first-contentful-paint once the browser has recorded it (after load: wait a frame
    or a few), None if it never comes within 2 s."""
    deadline = time.monotonic() + 2
    while True:
        v = b.js(FCP)
        if v is not None or time.monotonic() > deadline:
            return v
        time.sleep(0.02)


def measure(b, base, route, name, runs):
    """ms to 'dd-drawn' on the first load (the server's series cache cold), then the
    median of `runs` more fresh loads (warm), and the median first-contentful-paint."""
    drawn, fcp = [], []
    for _ in range(runs + 1):
        b.page(base, route, expect=name, timeout=60)
        drawn.append(b.js(DRAWN))
        fcp.append(read_fcp(b))
    return drawn[0], median(drawn[1:]), median(fcp)


def measure_static(b, url, runs):
    """Median ms to loadEventEnd and first-contentful-paint of a static page."""
    load, fcp = [], []
    for _ in range(runs):
        b.d.get("about:blank")
        b.d.get(url)
        load.append(b.js(NAV)["loadEventEnd"])
        fcp.append(read_fcp(b))
    return median(load), median(fcp)


def series_ms(base, iid, runs):
    """ms for the iteration page's series requests alone (the keys, then every key in
    parallel, as app.js asks): the server's share of the iteration page. The first run
    reads the points (cold cache), the median of the others is served from the cache."""
    def get(path):
        return json.loads(urllib.request.urlopen(base + path, timeout=60).read())
    times = []
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(runs):
            t0 = time.monotonic()
            keys = get("/v1/iteration/%d/series?summary=true" % iid)["series"]
            list(pool.map(lambda k: get("/v1/iteration/%d/series?max_points=2000&key=%s"
                                        % (iid, k["key"])), keys))
            times.append((time.monotonic() - t0) * 1000)
    return times[0], statistics.median(times[1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "deardiary"))
    ap.add_argument("--iters", type=int, default=10000)
    ap.add_argument("--points", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="dddash.", dir=os.environ.get("BENCH_TMPDIR", "/var/tmp"))
    procs, b = [], None
    try:
        db = os.path.join(tmp, "r.db")
        subprocess.run([a.bin, "init", db], check=True, stdout=subprocess.DEVNULL)
        t0 = time.monotonic()
        out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "seed.py"), "table",
                              db, str(a.iters), str(a.points)], check=True,
                             capture_output=True, text=True).stdout.split()
        eid, iid = int(out[0]), int(out[1])
        print("== dashboard benchmarks (%s, %d cores, load average %s, %d runs each, "
              "median; seeded %d iterations and a %d-point iteration in %.1f s)"
              % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), os.cpu_count(),
                 "%.1f" % os.getloadavg()[0], a.runs, a.iters, a.points,
                 time.monotonic() - t0))
        def start_serve():
            port = free_port()
            log = open(os.path.join(tmp, "serve-%d.log" % port), "w")
            p = subprocess.Popen([a.bin, "serve", "--db", db, "--port", str(port)],
                                 stdout=log, stderr=subprocess.STDOUT)
            procs.append(p)
            url = "http://127.0.0.1:%d" % port
            wait_up(url + "/health")
            return p, url

        # the server's share first, on a server of its own (its cache then dropped)
        serve, base = start_serve()
        print("iteration page's series requests alone (4 keys in parallel, M4 to 2000 "
              "points each): first %.0f ms (read), later %.0f ms (cached)"
              % series_ms(base, iid, a.runs + 1), flush=True)
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
        serve, base = start_serve()
        b = Browser()
        pages = [("experiment", "/experiment/%d" % eid, "%d iterations" % a.iters),
                 ("iteration", "/iteration/%d" % iid, "%d points in 4 series" % a.points)]
        site = os.path.join(tmp, "site")
        os.makedirs(os.path.join(site, "ui"))
        for f in ("app.css", "uPlot.min.css"):
            with open(os.path.join(site, "ui", f), "wb") as w:
                w.write(urllib.request.urlopen(base + "/ui/" + f).read())
        ours = {}
        for name, route, what in pages:
            ours[name] = measure(b, base, route, name, a.runs)
            print("%s page (%s): drawn %.0f ms on the first load, %.0f ms on later loads; "
                  "first contentful paint %.0f ms" % ((name, what) + ours[name]), flush=True)
            with open(os.path.join(site, name + ".html"), "w") as w:
                w.write(b.js(SNAPSHOT))

        ngp = free_port()
        with open(os.path.join(tmp, "nginx.conf"), "w") as w:
            # user root: the temp dir is 0700 (as bench/serve.sh)
            w.write("user root; daemon off; worker_processes 1; pid %s/nginx.pid;"
                    " error_log %s/nginx.err;\n"
                    "events { worker_connections 64; }\n"
                    "http { access_log off; sendfile on; types { text/html html; text/css css; }"
                    " server { listen 127.0.0.1:%d; root %s; } }\n" % (tmp, tmp, ngp, site))
        procs.append(subprocess.Popen(["nginx", "-c", os.path.join(tmp, "nginx.conf"),
                                       "-p", tmp]))
        wait_up("http://127.0.0.1:%d/experiment.html" % ngp)
        for name, route, what in pages:
            size = os.path.getsize(os.path.join(site, name + ".html"))
            sload, sfcp = measure_static(b, "http://127.0.0.1:%d/%s.html" % (ngp, name), a.runs)
            cold, warm, fcp = ours[name]
            print("%s page: static copy (%d KiB) from nginx loaded %.0f ms (fcp %.0f ms); "
                  "ratio drawn/loaded first load %.2f, later %.2f, fcp/fcp %.2f "
                  "(target: drawn < 1000 ms)" % (name, size // 1024, sload, sfcp, cold / sload,
                                                 warm / sload, fcp / sfcp))
        hwm = vm_hwm_kb(serve.pid)
        print("memory: serve peak RSS (VmHWM) %.1f MB over the run (target < 64 MB)"
              % (hwm / 1024))
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)
    finally:
        if b:
            b.quit()
        for p in procs:   # SIGTERM: nginx's master then stops its worker too
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
