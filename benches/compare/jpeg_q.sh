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
source "$ROOT/benches/compare/lib.sh"
find_imagemagick
for t in vips djpeg cjpeg hyperfine jq exiftool; do
  command -v "$t" >/dev/null || { echo "missing $t: run ../shared/bench/install_tools.sh" >&2; exit 1; }
done
(cd "$ROOT" && cargo build --release -q -p mogr-cli)
MOGR=$ROOT/target/release/mogr
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mapfile -t FILES < <(find "$CORPUS/jpeg" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.jpeg' -o -name '*.mpo' \) | sort)
[ ${#FILES[@]} -gt 0 ] || { echo "no JPEGs in $CORPUS/jpeg" >&2; exit 1; }
strip_metadata() { exiftool -q -all= -overwrite_original "$1"/* >/dev/null 2>&1 || true; }

echo "JPEG re-encode at quality $Q, files from $CORPUS/jpeg, one process per file, $(nproc) cores; mean of $RUNS runs; bytes with metadata removed"
compare "JPEG at quality $Q" jpg FILES strip_metadata <<EOF2
mogr	$MOGR process 'imageMogr2/quality/$Q!' "\$IN" "\$OUT"
imagemagick	"\$IM" "\$IN" -quality $Q "\$OUT"
vips	vips copy "\$IN" "\$OUT[Q=$Q]"
libjpeg-turbo	djpeg "\$IN" | cjpeg -quality $Q -optimize > "\$OUT"
EOF2
