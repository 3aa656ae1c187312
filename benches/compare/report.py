#!/usr/bin/env python3
"""Renders the rows report.sh collected: a markdown table (printed, and written into
benches/README.md between the report markers) and a chart (SVG) of each tool's time and
bytes relative to mogr, on a log scale. Standard library only.

Input TSV rows: operation, tool, mean ms, bytes (0 when not an image), score text.
"""
import argparse
import datetime
import math
import re
from collections import OrderedDict
from xml.sax.saxutils import escape

BEGIN = "<!-- report:begin (written by benches/compare/report.sh) -->"
END = "<!-- report:end -->"


def load(path):
    ops = OrderedDict()
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 5:
                continue
            op, tool, ms, size, score = parts[:5]
            ops.setdefault(op, []).append(
                {"tool": tool, "ms": float(ms), "bytes": int(size), "score": score}
            )
    return ops


def ratios(rows):
    """Each row's time and bytes over mogr's (above 1: mogr is faster or smaller)."""
    base = next(r for r in rows if r["tool"] == "mogr")
    out = []
    for r in rows:
        t = r["ms"] / base["ms"] if base["ms"] else None
        b = r["bytes"] / base["bytes"] if base["bytes"] and r["bytes"] else None
        out.append((r, t, b))
    return out


def markdown(ops, machine, command, commit):
    date = datetime.date.today().isoformat()
    lines = [
        f"Run of {date} on {machine}, commit `{commit}`:",
        "",
        "```sh",
        "../shared/bench/install_tools.sh",
        command,
        "```",
        "",
        "| operation | tool | time (ms, whole set) | time / mogr | bytes | bytes / mogr | quality |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    first_time = first_bytes = rows_time = rows_bytes = 0
    for op, rows in ops.items():
        rs = ratios(rows)
        others = [x for x in rs if x[0]["tool"] != "mogr"]
        if others:
            rows_time += 1
            first_time += all(t is not None and t >= 1 for _, t, _ in others)
        if others and all(b is not None for _, _, b in others):
            rows_bytes += 1
            first_bytes += all(b >= 1 for _, _, b in others)
        for r, t, b in rs:
            name = f"**{r['tool']}**" if r["tool"] == "mogr" else r["tool"]
            size = f"{r['bytes']:,}" if r["bytes"] else "-"
            tr = f"{t:.2f}" if t is not None else "-"
            br = f"{b:.3f}" if b is not None else "-"
            score = r["score"] if r["score"] != "-" else ""
            lines.append(
                f"| {op} | {name} | {r['ms']:.0f} | {tr} | {size} | {br} | {score} |"
            )
    lines += [
        "",
        f"mogr is first in time on {first_time} of {rows_time} operations and makes the "
        f"smallest files on {first_bytes} of {rows_bytes}. Ratios above 1 mean mogr is "
        "faster or smaller; quality is SSIMULACRA2 (lowest / median over the files) for the "
        "smart-compression rows.",
        "",
        "![time and bytes relative to mogr](report.svg)",
    ]
    return "\n".join(lines)


def svg(ops):
    """Two panels (time, bytes) of horizontal bars, log scale, 1 = mogr."""
    label_w, panel_w, gap, row_h, head_h, top = 250, 300, 30, 16, 20, 50
    lo, hi = 1 / 8, 64  # ratio range shown
    rows = []
    for op, rs in ops.items():
        rows.append(("head", op, None, None))
        for r, t, b in ratios(rs):
            if r["tool"] != "mogr":
                rows.append(("row", r["tool"], t, b))
    height = top + sum(head_h if k == "head" else row_h for k, *_ in rows) + 40
    width = label_w + 2 * panel_w + gap + 20

    def x(panel, ratio):
        ratio = min(max(ratio, lo), hi)
        frac = (math.log2(ratio) - math.log2(lo)) / (math.log2(hi) - math.log2(lo))
        return label_w + panel * (panel_w + gap) + frac * panel_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{label_w}" y="18" font-size="13" font-weight="bold">'
        "Other tools relative to mogr (log scale; right of 1 = mogr faster / smaller)</text>",
    ]
    for panel, title in enumerate(["time / mogr", "bytes / mogr"]):
        x0 = label_w + panel * (panel_w + gap)
        out.append(f'<text x="{x0}" y="38" font-weight="bold">{title}</text>')
        tick = lo
        while tick <= hi:
            tx = x(panel, tick)
            out.append(
                f'<line x1="{tx:.1f}" y1="{top - 6}" x2="{tx:.1f}" y2="{height - 30}" '
                f'stroke="{"#333" if tick == 1 else "#ddd"}"/>'
            )
            label = f"{tick:g}" if tick >= 1 else f"1/{1 / tick:g}"
            out.append(
                f'<text x="{tx:.1f}" y="{height - 16}" text-anchor="middle">{label}</text>'
            )
            tick *= 2
    y = top
    for kind, name, t, b in rows:
        if kind == "head":
            y += head_h
            out.append(f'<text x="4" y="{y - 5}" font-weight="bold">{escape(name)}</text>')
            continue
        out.append(f'<text x="14" y="{y + 12}">{escape(name)}</text>')
        for panel, ratio in enumerate([t, b]):
            if ratio is None:
                continue
            x1, x2 = x(panel, 1), x(panel, ratio)
            colour = "#2a9d4a" if ratio >= 1 else "#d1495b"
            out.append(
                f'<rect x="{min(x1, x2):.1f}" y="{y + 3}" width="{max(abs(x2 - x1), 1):.1f}" '
                f'height="{row_h - 6}" fill="{colour}"/>'
            )
            out.append(
                f'<text x="{max(x1, x2) + 3:.1f}" y="{y + 12}" fill="#333">{ratio:.2f}</text>'
            )
        y += row_h
    out.append("</svg>")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tsv", required=True)
    ap.add_argument("--svg", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--commit", default="?")
    ap.add_argument("--readme")
    a = ap.parse_args()
    ops = load(a.tsv)
    table = markdown(ops, a.machine, a.command, a.commit)
    print(table)
    with open(a.svg, "w") as f:
        f.write(svg(ops) + "\n")
    if a.readme:
        text = open(a.readme).read()
        block = f"{BEGIN}\n{table}\n{END}"
        if BEGIN in text and END in text:
            text = re.sub(
                re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S
            )
        else:
            text = text.rstrip("\n") + "\n\n## Performance report\n\n" + block + "\n"
        with open(a.readme, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
