#!/usr/bin/env bash
# imageSlim's outputs as the reference scripts score them: each file through
# `mogr process imageSlim`, then input and output (decoded to PNG by mogr, which decodes HEIF
# and AVIF with the same libheif as heif-dec) flattened the two ways the scripts in
# ../shared/bench flatten alpha, and scored by `ssimulacra2_rs`:
#   gray50   lib.sh (ref_slim.sh and the others): -background gray50 -alpha remove (127)
#   808080   ref_slim_fair.sh (the PNG reference):  -background '#808080' -flatten (128)
# Prints one TSV row per file: file, input bytes, output bytes (or "same" when the input came
# back), and the two scores; then the lowest of each column.
#
#   benches/compare/slim_scores.sh FILE...            # e.g. ../shared/corpus/{webp,gif,heic,avif}/*
#   MOGR=path/to/mogr benches/compare/slim_scores.sh FILE...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
use_mogr_and_tools "$root"
command -v ssimulacra2_rs >/dev/null || { echo "slim_scores.sh: ssimulacra2_rs not found (../shared/bench/install_tools.sh)" >&2; exit 1; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
score() { # score IM-FLATTEN-ARGS... : the output against the input, both flattened alike
  convert "$W/s.png" "$@" -depth 8 "PNG24:$W/s1.png" 2>/dev/null
  convert "$W/d.png" "$@" -depth 8 "PNG24:$W/d1.png" 2>/dev/null
  ssimulacra2_rs image "$W/s1.png" "$W/d1.png" 2>/dev/null | awk '/Score/{printf "%.3f", $2}'
}
printf "file\tinput\toutput\tgray50\t808080\n"
for f in "$@"; do
  b=$(basename "$f"); out=$W/out.${b##*.}
  rm -f "$out"
  if ! "$MOGR" process imageSlim "$f" "$out" >/dev/null 2>&1; then
    printf "%s\t%s\terror\t-\t-\n" "$b" "$(stat -c %s "$f")"; continue
  fi
  if cmp -s "$f" "$out"; then printf "%s\t%s\tsame\t-\t-\n" "$b" "$(stat -c %s "$f")"; continue; fi
  "$MOGR" process imageMogr2/format/png "$f" "$W/s.png" >/dev/null
  "$MOGR" process imageMogr2/format/png "$out" "$W/d.png" >/dev/null
  printf "%s\t%s\t%s\t%s\t%s\n" "$b" "$(stat -c %s "$f")" "$(stat -c %s "$out")" \
    "$(score -background gray50 -alpha remove -alpha off)" "$(score -background '#808080' -flatten)"
done | tee "$W/rows.tsv"
awk -F'\t' '$4 ~ /^[0-9.]+$/ { if (!n++ || $4 < a) a = $4; if ($5 < b || n == 1) b = $5 }
  END { if (n) printf "lowest\t\t\t%.3f\t%.3f\n", a, b }' "$W/rows.tsv"
