#!/usr/bin/env bash
# benches/compare/jpeg_q.sh [CORPUS_DIR]
#
# JPEG re-encode at quality Q (default 60), side by side in one run: mogr, ImageMagick
# (`convert -quality Q`), libvips (`vips copy in out.jpg[Q=Q]`) and libjpeg-turbo
# (`djpeg | cjpeg -quality Q -optimize`), one process per file, on every JPEG in
# CORPUS_DIR/jpeg (default ../shared/corpus). Time is hyperfine's mean over RUNS runs of the
# whole set; bytes are summed after removing metadata from every output (exiftool -all=),
# since djpeg | cjpeg drops it. Prints a markdown table with ratios to mogr.
#
# Needs: ImageMagick, libvips-tools, libjpeg-turbo-progs, hyperfine, jq, exiftool
# (../shared/bench/install_tools.sh installs them). Env: Q=60 RUNS=5.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=${1:-$ROOT/../shared/corpus}
Q=${Q:-60}
RUNS=${RUNS:-5}
# The real ImageMagick: `magick`, else Debian's /usr/bin/convert (another `convert` may
# come first on PATH).
IM=$(command -v magick || echo /usr/bin/convert)
"$IM" -version 2>/dev/null | grep -q ImageMagick || { echo "ImageMagick not found" >&2; exit 1; }
for t in vips djpeg cjpeg hyperfine jq exiftool; do
  command -v "$t" >/dev/null || { echo "missing $t: run ../shared/bench/install_tools.sh" >&2; exit 1; }
done
(cd "$ROOT" && cargo build --release -q -p mogr-cli)
MOGR=$ROOT/target/release/mogr
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mapfile -t FILES < <(find "$CORPUS/jpeg" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.jpeg' -o -name '*.mpo' \) | sort)
[ ${#FILES[@]} -gt 0 ] || { echo "no JPEGs in $CORPUS/jpeg" >&2; exit 1; }

NAMES=(mogr imagemagick vips libjpeg-turbo)
TPLS=(
  "$MOGR process 'imageMogr2/quality/$Q!' \"\$IN\" \"\$OUT\" >/dev/null"
  "$IM \"\$IN\" -quality $Q \"\$OUT\""
  "vips copy \"\$IN\" \"\$OUT[Q=$Q]\""
  "djpeg \"\$IN\" | cjpeg -quality $Q -optimize > \"\$OUT\""
)

declare -A MS BYTES
for i in "${!NAMES[@]}"; do
  name=${NAMES[$i]}; out=$WORK/$name; mkdir -p "$out"
  script=$WORK/$name.sh
  { for f in "${FILES[@]}"; do
      printf 'IN=%q; OUT=%q; %s\n' "$f" "$out/$(basename "${f%.*}").jpg" "${TPLS[$i]}"
    done; } > "$script"
  hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/$name.json" "bash $script" >/dev/null
  MS[$name]=$(jq '.results[0].mean*1000' "$WORK/$name.json")
  exiftool -q -all= -overwrite_original "$out"/*.jpg >/dev/null 2>&1 || true
  BYTES[$name]=$(cat "$out"/*.jpg | wc -c)
done

echo "JPEG re-encode at quality $Q, ${#FILES[@]} files from $CORPUS/jpeg, one process per file, $(nproc) cores; mean of $RUNS runs"
echo
echo "| tool | time (ms, whole set) | time / mogr | bytes (metadata removed) | bytes / mogr |"
echo "| --- | ---: | ---: | ---: | ---: |"
for name in "${NAMES[@]}"; do
  awk -v n="$name" -v t="${MS[$name]}" -v b="${BYTES[$name]}" -v tm="${MS[mogr]}" -v bm="${BYTES[mogr]}" \
    'BEGIN { printf "| %s | %.0f | %.2f | %d | %.3f |\n", n, t, t/tm, b, b/bm }'
done
