#!/usr/bin/env bash
# benches/identical.sh: one SHA-256 per (corpus file, rule) of `mogr process` outputs, to show
# that a restructuring changed no output byte.
#
#   benches/identical.sh [CORPUS] > after.tsv        # CORPUS defaults to ../shared/corpus
#   diff benches/identical-before.tsv after.tsv       # no line may differ
#
# Runs $MOGR, by default target/release/mogr (build it first: cargo build --release -p mogr-cli). Each line is
# "file<TAB>rule<TAB>sha256 of the output" (or "error: <exit code>" when the call failed).
# `imageSlim` is included (it is deterministic); set NO_SLIM=1 to leave it out (faster).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/corpus}
mogr=${MOGR:-target/release/mogr}
[ -x "$mogr" ] || { echo "build the CLI first: cargo build --release -p mogr-cli" >&2; exit 1; }
rules=(
  'imageMogr2/quality/60'
  'imageMogr2/rquality/80/interlace/1'
  'imageMogr2/format/png'
  'imageMogr2/format/jpg'
  'imageMogr2/format/webp/quality/70'
  'imageMogr2/format/gif/cgif/5'
  'imageMogr2/format/yjpeg'
  'imageMogr2/format/avif/quality/40'
  'imageMogr2/format/tpg/ignore-error/1'
  'imageInfo'
)
[ "${NO_SLIM:-0}" = 1 ] || rules+=('imageSlim')
out=$(mktemp)
trap 'rm -f "$out"' EXIT
while IFS=$'\t' read -r file _; do
  [ "$file" = file ] && continue
  for rule in "${rules[@]}"; do
    if "$mogr" process "$rule" "$corpus/$file" "$out" >/dev/null 2>&1; then
      printf '%s\t%s\t%s\n' "$file" "$rule" "$(sha256sum < "$out" | cut -d' ' -f1)"
    else
      printf '%s\t%s\terror: %s\n' "$file" "$rule" "$?"
    fi
  done
done < "$corpus/MANIFEST.tsv"
