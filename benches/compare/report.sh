#!/usr/bin/env bash
# benches/compare/report.sh [CORPUS_DIR]
#
# The side-by-side performance report, in one run on CORPUS_DIR (default ../shared/corpus):
# mogr and the tools a user would pick instead, per operation, one process per file, timed
# by hyperfine over the whole set:
#   JPEG re-encode at q60      ImageMagick, libvips, libjpeg-turbo (bytes after exiftool -all=)
#   JPEG quality estimate      ImageMagick identify %Q (score column: files where they agree)
#   to WebP q75                cwebp, ImageMagick, libvips
#   to HEIC / AVIF q50         heif-enc
#   GIF to 10 frames           gifsicle (the same evenly spaced frames, -O2; quality column:
#                              each output frame against its source frame)
#   smart JPEG (imageSlim)     libjpeg-turbo quality bisection to SSIMULACRA2 >= 80
#   smart PNG (imageSlim)      pngquant --quality 65-80 + oxipng -o 2
# The smart-compression rows carry the lowest and median SSIMULACRA2 of the outputs against
# their inputs (both decoded as a viewer shows them), so bytes compare at a known quality.
# Prints the markdown table, writes it into benches/README.md (between the report markers)
# with the machine and this command, and draws benches/report.svg (and report.png, with
# rsvg-convert from Debian's librsvg2-bin when it is installed).
#
# Needs ../shared/bench/install_tools.sh (ImageMagick, libvips, libjpeg-turbo, cwebp,
# heif-enc, gifsicle, pngquant, oxipng, ssimulacra2_rs, hyperfine, jq, exiftool) and python3.
# Env: RUNS (default 3; the smart-compression rows run once, with no warm-up), NO_README=1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=$(cd "${1:-$ROOT/../shared/corpus}" && pwd)
RUNS=${RUNS:-3}
source "$ROOT/benches/compare/lib.sh"
find_imagemagick
export IM PATH=$PATH:$ROOT/../shared/bench/tools/bin
for t in identify vips djpeg cjpeg cwebp heif-enc heif-dec gifsicle pngquant oxipng ssimulacra2_rs hyperfine jq exiftool python3; do
  command -v "$t" >/dev/null || { echo "missing $t: run ../shared/bench/install_tools.sh" >&2; exit 1; }
done
(cd "$ROOT" && cargo build --release -q -p mogr-cli)
MOGR=$ROOT/target/release/mogr
BISECT=$ROOT/benches/compare/bisect_turbo.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
REPORT_TSV=$WORK/report.tsv
: > "$REPORT_TSV"

mapfile -t JPEGS < <(find "$CORPUS/jpeg" -maxdepth 1 -type f \( -name '*.jpg' -o -name '*.mpo' \) | sort)
mapfile -t PNGS < <(find "$CORPUS/png" -maxdepth 1 -type f -name '*.png' | sort)
STILLS=("${JPEGS[@]}" "${PNGS[@]}")
mapfile -t GIFS < <(for f in "$CORPUS"/gif/*.gif; do [ "$(gifsicle --info "$f" | grep -c '+ image')" -gt 1 ] && echo "$f"; done)

strip_metadata() { exiftool -q -all= -overwrite_original "$1"/* >/dev/null 2>&1 || true; }

# A viewer's pixels: first frame, orientation applied, alpha over 50% grey, 8-bit sRGB.
view_png() { "$IM" "$1[0]" -auto-orient -colorspace sRGB -background gray50 -alpha remove -alpha off -depth 8 "PNG24:$2" 2>/dev/null; }

# score_dir OUTDIR: "lowest / median" SSIMULACRA2 of each output against its input
# (outputs are named after their inputs; $SCORED names the inputs' array).
score_dir() {
  local dir=$1 files_var=$SCORED[@] f o s
  for f in "${!files_var}"; do
    o=$(ls "$dir/$(basename "${f%.*}")".* 2>/dev/null | head -1)
    [ -n "$o" ] || { echo -1000; continue; }
    [ -f "$WORK/ref-$(basename "$f").png" ] || view_png "$f" "$WORK/ref-$(basename "$f").png"
    view_png "$o" "$WORK/dist.png"
    s=$(ssimulacra2_rs image "$WORK/ref-$(basename "$f").png" "$WORK/dist.png" 2>/dev/null | awk '/Score/{print $2}')
    echo "${s:--1000}"
  done | sort -g | awk '{v[NR]=$1} END { m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.2f / %.2f", v[1], m }'
}

# score_frames OUTDIR: "lowest / median" SSIMULACRA2 of every output frame against the source
# frame it stands for (frame floor(i * n / 10) of an n-frame source; all frames when n <= 10).
score_frames() {
  local dir=$1 f o n k i src s
  for f in "${GIFS[@]}"; do
    o=$dir/$(basename "${f%.*}").gif
    rm -f "$WORK"/src-*.png "$WORK"/out-*.png
    "$IM" "$f" -coalesce +repage -background gray50 -alpha remove -alpha off "PNG24:$WORK/src-%03d.png" 2>/dev/null
    "$IM" "$o" -coalesce +repage -background gray50 -alpha remove -alpha off "PNG24:$WORK/out-%03d.png" 2>/dev/null
    n=$(ls "$WORK"/src-*.png | wc -l); k=$(ls "$WORK"/out-*.png 2>/dev/null | wc -l)
    for ((i = 0; i < k; i++)); do
      src=$i; [ "$n" -gt 10 ] && src=$(( i * n / 10 ))
      s=$(ssimulacra2_rs image "$(printf "$WORK/src-%03d.png" "$src")" "$(printf "$WORK/out-%03d.png" "$i")" 2>/dev/null | awk '/Score/{print $2}')
      echo "${s:--1000}"
    done
  done | sort -g | awk '{v[NR]=$1} END { m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.2f / %.2f", v[1], m }'
}

# agree_dir OUTDIR: files whose estimate equals ImageMagick's %Q (mogr's outputs are its
# ImageInfo JSON, read here rather than piped through jq in the timed command).
IDENTIFY=$(command -v identify)
agree_dir() {
  local n=0 same=0 f q
  for f in "${JPEGS[@]}"; do
    n=$((n + 1))
    q=$(cat "$1/$(basename "${f%.*}").q" 2>/dev/null || true)
    [ "${q:0:1}" = "{" ] && q=$(jq -r .Quality <<<"$q")
    [ "$q" = "$("$IDENTIFY" -format '%Q' "$f" 2>/dev/null)" ] && same=$((same + 1))
  done
  echo "$same/$n agree with identify"
}

{
echo "Performance report: $(nproc) cores, corpus $CORPUS; mean of $RUNS runs (smart compression: 1 run)"

compare "JPEG re-encode at q60" jpg JPEGS strip_metadata <<EOF2
mogr	$MOGR process 'imageMogr2/quality/60!' "\$IN" "\$OUT"
imagemagick	"\$IM" "\$IN" -quality 60 "\$OUT"
vips	vips copy "\$IN" "\$OUT[Q=60]"
libjpeg-turbo	djpeg "\$IN" | cjpeg -quality 60 -optimize > "\$OUT"
EOF2

NO_BYTES=1 compare "JPEG quality estimate" q JPEGS "" agree_dir <<EOF2
mogr	$MOGR info "\$IN" > "\$OUT"
imagemagick	$IDENTIFY -format '%Q' "\$IN" > "\$OUT"
EOF2

compare "to WebP at q75" webp STILLS <<EOF2
mogr	$MOGR process 'imageMogr2/format/webp/quality/75!' "\$IN" "\$OUT"
cwebp	cwebp -quiet -q 75 "\$IN" -o "\$OUT"
imagemagick	"\$IM" "\$IN" -quality 75 "\$OUT"
vips	vips copy "\$IN" "\$OUT[Q=75]"
EOF2

compare "to HEIC at q50" heic STILLS <<EOF2
mogr	$MOGR process 'imageMogr2/format/heif/quality/50!' "\$IN" "\$OUT"
heif-enc	heif-enc -q 50 "\$IN" -o "\$OUT"
EOF2

compare "to AVIF at q50" avif STILLS <<EOF2
mogr	$MOGR process 'imageMogr2/format/avif/quality/50!' "\$IN" "\$OUT"
heif-enc	heif-enc --avif -q 50 "\$IN" -o "\$OUT"
EOF2

# Quality: each output frame against the source frame it stands for (gifsicle cannot
# recompose frames of some optimized animations with local colour tables, and says so).
compare "GIF to 10 frames" gif GIFS "" score_frames <<EOF2
mogr	$MOGR process 'imageMogr2/cgif/10' "\$IN" "\$OUT"
gifsicle	n=\$(gifsicle --info "\$IN" | grep -c '+ image'); sel=\$(awk -v n=\$n 'BEGIN{if(n>10) for(i=0;i<10;i++) printf "#%d ", int(i*n/10)}'); gifsicle -O2 "\$IN" \$sel > "\$OUT"
EOF2

SCORED=JPEGS RUNS=1 WARMUP=0 compare "smart JPEG (SSIMULACRA2 80)" jpg JPEGS "" score_dir <<EOF2
mogr	$MOGR process imageSlim "\$IN" "\$OUT"
turbo-bisection	$BISECT "\$IN" "\$OUT" 80
EOF2

SCORED=PNGS RUNS=1 WARMUP=0 compare "smart PNG (SSIMULACRA2 80)" png PNGS "" score_dir <<EOF2
mogr	$MOGR process imageSlim "\$IN" "\$OUT"
pngquant+oxipng	pngquant --quality 65-80 --speed 3 --force --output "\$OUT" -- "\$IN"; r=\$?; if [ \$r = 99 ]; then oxipng -q -o 2 --strip safe --out "\$OUT" "\$IN"; else oxipng -q -o 2 --strip safe "\$OUT"; fi; [ "\$(stat -c%s "\$OUT")" -lt "\$(stat -c%s "\$IN")" ] || cp "\$IN" "\$OUT"
EOF2
} | tee "$WORK/tables.md"

machine="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -g | awk '/Mem:/{print $2}') GiB, $(. /etc/os-release && echo "$PRETTY_NAME"), $(rustc --version | cut -d' ' -f1-2)"
args=(--tsv "$REPORT_TSV" --svg "$ROOT/benches/report.svg" --machine "$machine"
      --command "RUNS=$RUNS benches/compare/report.sh" --commit "$(git -C "$ROOT" rev-parse --short HEAD)")
[ "${NO_README:-0}" = 1 ] || args+=(--readme "$ROOT/benches/README.md")
python3 "$ROOT/benches/compare/report.py" "${args[@]}"
# A PNG beside the SVG, for viewers without SVG (rsvg-convert: Debian's librsvg2-bin;
# ImageMagick 6 as built by Debian has no SVG reader).
if command -v rsvg-convert >/dev/null; then
  rsvg-convert -b white "$ROOT/benches/report.svg" -o "$ROOT/benches/report.png"
else
  echo "report.sh: no rsvg-convert (apt-get install librsvg2-bin): benches/report.png not redrawn" >&2
fi
