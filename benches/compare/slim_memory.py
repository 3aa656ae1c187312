#!/usr/bin/env python3
"""imageSlim peak memory against issue 15's goal: under 4x the decoded image plus 64 MB.

Runs `mogr process imageSlim` on every image of a corpus (its corrupt/ folder aside), one
process per file under /usr/bin/time, and prints a markdown table: pixels, the decoded size
(width x height x frames x the channels mogr holds: 1 grey, 3 RGB, 4 with alpha; read with
Pillow, and taken as 4 for HEIF/AVIF, which Pillow does not open), the goal, the peak
resident memory, peak / goal, and the wall time.

    benches/compare/slim_memory.py [CORPUS_DIR]   # default ../shared/corpus
    MOGR=path/to/mogr benches/compare/slim_memory.py
"""
import json
import os
import subprocess
import sys
import tempfile

from PIL import Image

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "corpus")
mogr = os.environ.get("MOGR")
if not mogr:
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "mogr-cli"], cwd=root, check=True)
    mogr = os.path.join(root, "target", "release", "mogr")


def channels(path):
    try:
        with Image.open(path) as im:
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                return 4
            return 1 if im.mode in ("L", "1", "I;16", "I") else 3
    except Exception:
        return 4


rows = []
with tempfile.TemporaryDirectory() as work:
    for folder in sorted(os.listdir(corpus)):
        path = os.path.join(corpus, folder)
        if folder == "corrupt" or not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            src = os.path.join(path, name)
            info = json.loads(subprocess.run([mogr, "info", src], capture_output=True, text=True).stdout)
            px = info["Width"] * info["Height"]
            decoded = px * max(1, info.get("FrameCount") or 1) * channels(src)
            out = os.path.join(work, "out")
            timed = subprocess.run(
                ["/usr/bin/time", "-f", "%e %M", mogr, "process", "imageSlim", src, out],
                capture_output=True, text=True)
            secs, kb = timed.stderr.strip().splitlines()[-1].split()
            peak = int(kb) * 1024
            goal = 4 * decoded + (64 << 20)
            rows.append((f"{folder}/{name}", px, decoded, goal, peak, float(secs)))

print("| file | pixels | decoded | goal (4x + 64 MB) | peak | peak / goal | time |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
mb = lambda b: f"{b / 1048576:.1f} MB"
for name, px, decoded, goal, peak, secs in rows:
    print(f"| {name} | {px:,} | {mb(decoded)} | {mb(goal)} | {mb(peak)} | {peak / goal:.2f} | {secs:.2f} s |")
worst = max(rows, key=lambda r: r[4] / r[3])
print(f"\nworst: {worst[0]} at {worst[4] / worst[3]:.2f} of its goal; "
      f"over the goal: {sum(r[4] > r[3] for r in rows)} of {len(rows)}")
