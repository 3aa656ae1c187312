#!/usr/bin/env python3
"""Load on `mogr serve`: requests per second and p50/p99 latency of
`GET /<file>?imageMogr2/quality/60` over the corpus's JPEGs with 1, 2 and 8 concurrent
clients, against the same requests answered by a sharp (libvips) server in Node.js
(benches/compare/sharp_serve.js; sharp from the npm registry, skipped with a notice when it
is not installed) and by `vips copy in.jpg out.jpg[Q=60]` run per request behind Python's
threaded HTTP server.

    cargo build --release -p mogr-cli
    npm install --prefix target/sharp sharp      # optional: the sharp rows
    python3 benches/compare/serve_load.py ../shared/corpus [SECONDS]
"""
import http.client
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

corpus = sys.argv[1] if len(sys.argv) > 1 else "../shared/corpus"
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
mogr = os.environ.get("MOGR", "target/release/mogr")
sharp_modules = os.path.abspath(os.environ.get("SHARP_MODULES", "target/sharp/node_modules"))
work = tempfile.mkdtemp()
jpegs = sorted(f for f in os.listdir(os.path.join(corpus, "jpeg")) if f.endswith(".jpg"))
for f in jpegs:
    shutil.copy(os.path.join(corpus, "jpeg", f), work)


class Vips(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.split("?")[0].lstrip("/")
        out = tempfile.NamedTemporaryFile(suffix=".jpg", delete=False).name
        ok = subprocess.run(["vips", "copy", os.path.join(work, name), out + "[Q=60]"],
                            capture_output=True).returncode == 0
        body = open(out, "rb").read() if ok else b""
        os.unlink(out)
        self.send_response(200 if ok else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def load(port, clients):
    latencies, errors = [], [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def client(k):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = k
        while time.monotonic() < end:
            target = "/%s?imageMogr2/quality/60" % jpegs[i % len(jpegs)]
            i += 1
            t = time.monotonic()
            try:
                conn.request("GET", target)
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except Exception:
                ok = False
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                if ok:
                    latencies.append(time.monotonic() - t)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000
    return len(latencies) / seconds, q(0.5), q(0.99), errors[0]


server = subprocess.Popen([mogr, "serve", "--dir", work, "--listen", "127.0.0.1:0"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
mogr_port = int(server.stdout.readline().strip().rsplit(":", 1)[1])
vips = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Vips)
threading.Thread(target=vips.serve_forever, daemon=True).start()
servers = [("mogr serve", mogr_port)]
sharp = None
if os.path.isdir(os.path.join(sharp_modules, "sharp")) and shutil.which("node"):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sharp_serve.js")
    sharp = subprocess.Popen(["node", script, work], stdout=subprocess.PIPE, text=True,
                             env=dict(os.environ, NODE_PATH=sharp_modules))
    servers.append(("sharp (Node.js)", int(sharp.stdout.readline().strip())))
else:
    print("notice: sharp not installed (npm install --prefix target/sharp sharp): no sharp rows",
          file=sys.stderr)
servers.append(("vips per request", vips.server_address[1]))
print("%d JPEGs, %.0f s per run, %d cores" % (len(jpegs), seconds, os.cpu_count()))
print()
print("| server | clients | requests/s | p50 (ms) | p99 (ms) | errors |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
try:
    for name, port in servers:
        for clients in (1, 2, 8):
            rps, p50, p99, errs = load(port, clients)
            print("| %s | %d | %.1f | %.1f | %.1f | %d |" % (name, clients, rps, p50, p99, errs))
finally:
    for child in [server] + ([sharp] if sharp else []):
        child.terminate()
        child.wait()
    vips.shutdown()
    shutil.rmtree(work)
