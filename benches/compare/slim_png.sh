#!/usr/bin/env bash
# imageSlim on PNG against the fair smart-compression reference of issue 15: per file, the
# smallest `pngquant --quality 0-q --speed 1` + `oxipng -o 2` output scoring SSIMULACRA2 >= 80
# (q bisected over 5..100; the input through oxipng when no q qualifies), made by
# ../shared/bench/ref_slim_fair.sh. mogr's outputs are scored the same way (ssimulacra2_rs,
# alpha over 50% grey, through ImageMagick). Prints a markdown table per file with the
# ratio mogr / reference, the totals, each side's wall time, and mogr's peak memory per file.
#
#   benches/compare/slim_png.sh [CORPUS_DIR]        # default ../shared/corpus (its png/ folder)
#   MOGR=path/to/mogr benches/compare/slim_png.sh   # default target/release/mogr (built here)
#   REF_TSV=saved.tsv benches/compare/slim_png.sh   # reuse a reference run (its TSV output)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus=${1:-$root/../shared/corpus}
bench=$root/../shared/bench
[ -x "$bench/ref_slim_fair.sh" ] || { echo "slim_png.sh: $bench/ref_slim_fair.sh not found" >&2; exit 1; }
# shellcheck source=lib.sh
. "$here/lib.sh"
use_mogr_and_tools "$root"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/set/png" "$W/out"
cp "$corpus"/png/*.png "$W/set/png/"

# The reference (timed as a whole: it is one bisection per file).
if [ -n "${REF_TSV:-}" ]; then
  cp "$REF_TSV" "$W/ref.tsv"; ref_s=${REF_SECONDS:-?}
else
  start=$(date +%s.%N)
  "$bench/ref_slim_fair.sh" "$W/set" > "$W/ref.tsv" 2>/dev/null
  ref_s=$(echo "$(date +%s.%N) - $start" | bc)
fi

refpng() { convert "$1[0]" -auto-orient +repage -background '#808080' -flatten -depth 8 "PNG24:$2" 2>/dev/null; }
# Bytes without metadata chunks (ICC, text, time, EXIF), as the reference counts its own.
bare() { python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read(); i = 8; n = 8
while i < len(d):
    size, kind = struct.unpack(">I4s", d[i:i + 8]); i += 12 + size
    n += 0 if kind in (b"iCCP", b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME") else 12 + size
print(n)' "$1"; }
score() { refpng "$1" "$W/a.png" && refpng "$2" "$W/b.png" && ssimulacra2_rs image "$W/a.png" "$W/b.png" 2>/dev/null | awk '/Score/{printf "%.2f", $2}'; }

printf '| file | input | mogr | mogr, metadata aside | score | reference (q) | score | mogr / reference | mogr time | mogr peak |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
tin=0; traw=0; tm=0; tr=0; mogr_s=0
for f in "$W"/set/png/*.png; do
  b=$(basename "$f"); o=$W/out/$b
  /usr/bin/time -f '%e %M' -o "$W/time" "$MOGR" process imageSlim "$f" "$o" >/dev/null 2>&1 || cp "$f" "$o"
  read -r secs kb < "$W/time"
  mogr_s=$(echo "$mogr_s + $secs" | bc)
  n=$(stat -c %s "$f"); raw=$(stat -c %s "$o"); m=$(bare "$o")
  ms=$(score "$f" "$o")
  IFS=$'\t' read -r _ _ rq rb rs < <(grep -P "^\Q$b\E\t" "$W/ref.tsv")
  tin=$((tin + n)); traw=$((traw + raw)); tm=$((tm + m)); tr=$((tr + rb))
  printf '| %s | %s | %s | %s | %s | %s (%s) | %s | %s | %s s | %s MB |\n' "$b" "$n" "$raw" "$m" "$ms" "$rb" "$rq" "$rs" \
    "$(echo "scale=2; $m / $rb" | bc)" "$secs" "$((kb / 1024))"
done
printf '| total | %s | %s | %s | | %s | | %s | %s s | |\n' "$tin" "$traw" "$tm" "$tr" "$(echo "scale=2; $tm / $tr" | bc)" "$mogr_s"
printf '\nreference search wall time: %s s; mogr (one file at a time): %s s\n' "$ref_s" "$mogr_s"
cp "$W/ref.tsv" "${KEEP_REF:-/dev/null}" 2>/dev/null || true
