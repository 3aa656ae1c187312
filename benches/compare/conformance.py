#!/usr/bin/env python3
"""Decoding conformance over a folder of other projects' test-suite files.

Each file goes through `mogr info` and `mogr process` with `format/png`, `quality/50`,
`format/webp`, `imageSlim` and `cgif/5`, and the answers are checked:

- decode: the `format/png` output against a reference decode: the suite's own `FILE.ref.png`
  when there is one, else djpeg (JPEG), dwebp (WebP), heif-dec (HEIF/AVIF) or ImageMagick
  (PNG, GIF, BMP; first frame), as installed. Pass: same size and PSNR >= 40 dB or max
  difference <= 8 (decoders differ by rounding); 16-bit references are scaled to 8 bits by
  the sample precision (a JPEG's SOF precision, else 16 bits).
- size: the `format/png` output has the size `info` reports.
- output: every successful call's output is a file `mogr info` reads.
- corrupt: a file `info` refuses is refused by every rule (no rule returns it with success).

It prints pass / mismatch / error (mogr refused) / no reference counts per check and per
input format, then the mismatches, so that the next run can be compared:

    cargo build --release -p mogr-cli
    pip install pillow numpy
    python3 benches/compare/conformance.py ../shared/conformance [MORE_FOLDERS...]
"""
import collections
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

MOGR = os.environ.get("MOGR", "target/release/mogr")
RULES = ["imageMogr2/format/png", "imageMogr2/quality/50", "imageMogr2/format/webp",
         "imageSlim", "imageMogr2/cgif/5"]
TIMEOUT = 120
work = tempfile.mkdtemp()


def run(args, **kw):
    try:
        return subprocess.run(args, capture_output=True, timeout=TIMEOUT, **kw)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, b"", b"timeout")


def info(path):
    r = run([MOGR, "info", path])
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def jpeg_precision(data):
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        code = data[i + 1]
        if 0xC0 <= code <= 0xCF and code not in (0xC4, 0xC8, 0xCC):
            return data[i + 4]
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7 or code == 0xFF:
            i += 1
            continue
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return 8


def to_rgb8(image, precision):
    """An RGB uint8 array, alpha composed over white as mogr's `Ave` does."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(image).astype(np.float64)
        a = np.clip(np.round(a * 255.0 / (2 ** precision - 1)), 0, 255).astype(np.uint8)
        return np.stack([a] * 3, -1)
    image = image.convert("RGBA")
    a = np.asarray(image).astype(np.float64)
    alpha = a[..., 3:4] / 255.0
    rgb = a[..., :3] * alpha + 255.0 * (1 - alpha)
    return np.round(rgb).astype(np.uint8)


def reference(path, fmt):
    """The reference decode as an RGB uint8 array, or None."""
    ref_png = path + ".ref.png"
    data = open(path, "rb").read()
    precision = jpeg_precision(data) if fmt == "jpg" else 16
    if os.path.exists(ref_png):
        return to_rgb8(Image.open(ref_png), precision)
    out = os.path.join(work, "ref.png")
    tools = {
        "jpg": [["djpeg", "-outfile", out.replace(".png", ".pnm"), path]],
        "webp": [["dwebp", path, "-o", out]],
        "heic": [["heif-dec", path, out], ["heif-convert", path, out]],
        "heif": [["heif-dec", path, out], ["heif-convert", path, out]],
        "avif": [["heif-dec", path, out], ["heif-convert", path, out]],
    }.get(fmt, [["convert", path + "[0]", out]])
    for cmd in tools:
        if not shutil.which(cmd[0]):
            continue
        target = cmd[-1] if cmd[0] != "djpeg" else cmd[2]
        if os.path.exists(target):
            os.unlink(target)
        if run(cmd).returncode == 0 and os.path.exists(target):
            try:
                return to_rgb8(Image.open(target), 16)
            except Exception:
                return None
    return None


def oriented(a, orientation):
    """`a` shown as EXIF orientation 1..8 says (mogr applies it; djpeg does not)."""
    return {
        2: lambda x: x[:, ::-1],
        3: lambda x: x[::-1, ::-1],
        4: lambda x: x[::-1],
        5: lambda x: x.transpose(1, 0, 2),
        6: lambda x: x.transpose(1, 0, 2)[:, ::-1],
        7: lambda x: x.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda x: x.transpose(1, 0, 2)[::-1],
    }.get(orientation, lambda x: x)(a)


def compare(ours, ref):
    if ours.shape != ref.shape:
        return "size %sx%s, reference %sx%s" % (ours.shape[1], ours.shape[0], ref.shape[1],
                                                ref.shape[0])
    diff = np.abs(ours.astype(int) - ref.astype(int))
    mse = (diff ** 2).mean()
    psnr = 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)
    if psnr >= 40 or diff.max() <= 8:
        return None
    return "PSNR %.1f dB, max diff %d" % (psnr, diff.max())


def main(folders):
    files = []
    for folder in folders:
        for root, _, names in os.walk(folder):
            files += [os.path.join(root, n) for n in sorted(names)
                      if not n.endswith((".ref.png", ".md", ".txt", ".tsv"))
                      and not n.startswith(".")]
    counts = collections.defaultdict(collections.Counter)
    by_format = collections.defaultdict(collections.Counter)
    mismatches = []
    out = os.path.join(work, "out.bin")
    for path in files:
        facts = info(path)
        fmt = facts["Format"] if facts else os.path.splitext(path)[1].lstrip(".").lower()
        outcomes = {}
        for rule in RULES:
            if os.path.exists(out):
                os.unlink(out)
            r = run([MOGR, "process", rule, path, out])
            outcomes[rule] = r.returncode == 0 and os.path.exists(out)
            if not outcomes[rule]:
                continue
            check = "output"
            if info(out) is None:
                counts[check]["mismatch"] += 1
                mismatches.append((path, rule, "the output does not decode"))
            else:
                counts[check]["pass"] += 1
            if rule == "imageMogr2/format/png":
                ours = to_rgb8(Image.open(out), 16)
                if facts:
                    size = (facts["Width"], facts["Height"])
                    if size == (ours.shape[1], ours.shape[0]):
                        counts["size"]["pass"] += 1
                    else:
                        counts["size"]["mismatch"] += 1
                        mismatches.append((path, rule, "info says %sx%s, output is %sx%s" % (
                            size + (ours.shape[1], ours.shape[0]))))
                ref = reference(path, fmt)
                if ref is not None and fmt == "jpg" and not os.path.exists(path + ".ref.png"):
                    ref = oriented(ref, facts["Orientation"] if facts else 1)
                if ref is None:
                    counts["decode"]["no reference"] += 1
                else:
                    wrong = compare(ours, ref)
                    counts["decode"]["mismatch" if wrong else "pass"] += 1
                    by_format[fmt]["mismatch" if wrong else "pass"] += 1
                    if wrong:
                        mismatches.append((path, rule, wrong))
        if not outcomes["imageMogr2/format/png"]:
            counts["decode"]["error"] += 1
            by_format[fmt]["error"] += 1
        if facts is None:
            accepted = [rule for rule, ok in outcomes.items() if ok]
            counts["corrupt"]["mismatch" if accepted else "pass"] += 1
            if accepted:
                mismatches.append((path, ", ".join(accepted), "info refuses it, the rule succeeds"))
    print("%d files" % len(files))
    print()
    print("| check | pass | mismatch | error | no reference |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for check in ("decode", "size", "output", "corrupt"):
        c = counts[check]
        print("| %s | %d | %d | %d | %d |" % (check, c["pass"], c["mismatch"], c["error"],
                                             c["no reference"]))
    print()
    print("| input format | decode pass | mismatch | error |")
    print("| --- | ---: | ---: | ---: |")
    for fmt in sorted(by_format):
        c = by_format[fmt]
        print("| %s | %d | %d | %d |" % (fmt, c["pass"], c["mismatch"], c["error"]))
    if mismatches:
        print()
        for path, rule, what in mismatches:
            print("mismatch: %s (%s): %s" % (path, rule, what))
    shutil.rmtree(work)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
