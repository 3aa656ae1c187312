#!/usr/bin/env bash
# benches/compare/formats.sh [CORPUS_DIR]
#
# Format conversion and GIF frame reduction, side by side in one run: mogr against the tools
# a user would pick instead, one process per file, on the corpus JPEGs and PNGs (and its
# animated GIFs for frame reduction). Time is hyperfine's mean over RUNS runs of the whole
# set; bytes are the outputs' total. Prints one markdown table per operation with ratios to
# mogr. Needs ../shared/bench/install_tools.sh (cwebp, heif-enc, ImageMagick, libvips,
# gifsicle, hyperfine, jq). Env: RUNS=3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=${1:-$ROOT/../shared/corpus}
RUNS=${RUNS:-3}
IM=$(command -v magick || echo /usr/bin/convert)
"$IM" -version 2>/dev/null | grep -q ImageMagick || { echo "ImageMagick not found" >&2; exit 1; }
for t in cwebp heif-enc vips gifsicle hyperfine jq djpeg; do
  command -v "$t" >/dev/null || { echo "missing $t: run ../shared/bench/install_tools.sh" >&2; exit 1; }
done
(cd "$ROOT" && cargo build --release -q -p mogr-cli)
MOGR=$ROOT/target/release/mogr
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mapfile -t STILLS < <(find "$CORPUS/jpeg" "$CORPUS/png" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.png' \) | sort)
mapfile -t GIFS < <(for f in "$CORPUS"/gif/*.gif; do [ "$(gifsicle --info "$f" | grep -c '+ image')" -gt 1 ] && echo "$f"; done)

# compare TITLE EXT FILES_ARRAY_NAME then lines "name<TAB>template" on stdin ($IN, $OUT).
compare() {
  local title=$1 ext=$2 files_var=$3[@]
  local -a files=("${!files_var}") names=() tpls=()
  while IFS=$'\t' read -r n t; do names+=("$n"); tpls+=("$t"); done
  declare -A ms bytes
  for i in "${!names[@]}"; do
    local name=${names[$i]} out=$WORK/$ext-${names[$i]} script=$WORK/$ext-${names[$i]}.sh
    mkdir -p "$out"
    { printf 'IM=%q\n' "$IM"; for f in "${files[@]}"; do
        printf 'IN=%q; OUT=%q; { %s ; } >/dev/null 2>&1 || true\n' "$f" "$out/$(basename "${f%.*}").$ext" "${tpls[$i]}"
      done; } > "$script"
    hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$script.json" "bash $script" >/dev/null
    ms[$name]=$(jq '.results[0].mean*1000' "$script.json")
    bytes[$name]=$(cat "$out"/* 2>/dev/null | wc -c)
  done
  echo
  echo "### $title (${#files[@]} files)"
  echo
  echo "| tool | time (ms, whole set) | time / mogr | bytes | bytes / mogr |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for name in "${names[@]}"; do
    awk -v n="$name" -v t="${ms[$name]}" -v b="${bytes[$name]}" -v tm="${ms[mogr]}" -v bm="${bytes[mogr]}" \
      'BEGIN { printf "| %s | %.0f | %.2f | %d | %.3f |\n", n, t, t/tm, b, (bm ? b/bm : 0) }'
  done
}

echo "Format conversion, one process per file, $(nproc) cores, mean of $RUNS runs; corpus $CORPUS"
compare "to WebP at quality 75" webp STILLS <<EOF2
mogr	$MOGR process 'imageMogr2/format/webp/quality/75!' "\$IN" "\$OUT"
cwebp	cwebp -quiet -q 75 "\$IN" -o "\$OUT"
imagemagick	"\$IM" "\$IN" -quality 75 "\$OUT"
vips	vips copy "\$IN" "\$OUT[Q=75]"
EOF2
compare "to HEIC at quality 50" heic STILLS <<EOF2
mogr	$MOGR process 'imageMogr2/format/heif/quality/50!' "\$IN" "\$OUT"
heif-enc	heif-enc -q 50 "\$IN" -o "\$OUT"
EOF2
compare "to AVIF at quality 50" avif STILLS <<EOF2
mogr	$MOGR process 'imageMogr2/format/avif/quality/50!' "\$IN" "\$OUT"
heif-enc	heif-enc --avif -q 50 "\$IN" -o "\$OUT"
EOF2
compare "to PNG" png STILLS <<EOF2
mogr	$MOGR process 'imageMogr2/format/png' "\$IN" "\$OUT"
imagemagick	"\$IM" "\$IN" "\$OUT"
vips	vips copy "\$IN" "\$OUT"
EOF2
compare "animated GIF to 10 evenly spaced frames" gif GIFS <<EOF2
mogr	$MOGR process 'imageMogr2/cgif/10' "\$IN" "\$OUT"
gifsicle	n=\$(gifsicle --info "\$IN" | grep -c '+ image'); sel=\$(awk -v n=\$n 'BEGIN{for(i=0;i<10;i++) printf "#%d ", int(i*n/10)}'); gifsicle -O2 "\$IN" \$sel > "\$OUT"
EOF2
