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
source "$ROOT/benches/compare/lib.sh"
find_imagemagick
for t in cwebp heif-enc vips gifsicle hyperfine jq djpeg; do
  command -v "$t" >/dev/null || { echo "missing $t: run ../shared/bench/install_tools.sh" >&2; exit 1; }
done
(cd "$ROOT" && cargo build --release -q -p mogr-cli)
MOGR=$ROOT/target/release/mogr
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mapfile -t STILLS < <(find "$CORPUS/jpeg" "$CORPUS/png" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.png' \) | sort)
mapfile -t GIFS < <(for f in "$CORPUS"/gif/*.gif; do [ "$(gifsicle --info "$f" | grep -c '+ image')" -gt 1 ] && echo "$f"; done)

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
