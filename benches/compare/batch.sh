#!/usr/bin/env bash
# benches/compare/batch.sh [CORPUS]: many files in one call. `mogr process RULE DIR
# --out-dir OUT` with --jobs 1 and 2, against a shell loop of single-file `mogr process`
# calls, and (for WebP) cwebp and vips one process per file under `xargs -P 2`.
# Inputs: the corpus's JPEG and PNG files (what cwebp and vips both read), flat in one
# folder. Timed by hyperfine (RUNS runs, default 3), the output folder emptied before each.
# Needs: a release build of mogr (MOGR, default target/release/mogr), hyperfine, cwebp, vips.
set -euo pipefail
CORPUS=${1:-../shared/corpus}
MOGR=$(realpath "${MOGR:-target/release/mogr}")
RUNS=${RUNS:-3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/in"
cp "$CORPUS"/jpeg/*.jpg "$CORPUS"/png/*.png "$WORK/in/"
IN=$WORK/in OUT=$WORK/out
n=$(ls "$IN" | wc -l)
bytes=$(cat "$IN"/* | wc -c)
echo "$n files, $bytes bytes; $(nproc) cores"

run() { # TITLE RULE [extra hyperfine args...]
  local title=$1 rule=$2; shift 2
  echo
  echo "### $title"
  hyperfine -N --runs "$RUNS" --warmup 1 --prepare "rm -rf $OUT" --style basic \
    --export-markdown "$WORK/table.md" \
    -n "mogr --jobs 1" "$MOGR process $rule $IN --out-dir $OUT --jobs 1 --json" \
    -n "mogr --jobs 2" "$MOGR process $rule $IN --out-dir $OUT --jobs 2 --json" \
    -n "mogr, shell loop of single-file calls" \
    "bash -c 'mkdir -p $OUT; for f in $IN/*; do $MOGR process $rule \$f $OUT/\$(basename \$f) >/dev/null 2>&1 || true; done'" \
    "$@" >/dev/null
  cat "$WORK/table.md"
}

# How many outputs each tool writes (the last run's folder is checked per tool below).
count() { # NAME COMMAND
  rm -rf "$OUT"; bash -c "$2" >/dev/null 2>&1 || true
  echo "$1: $(ls "$OUT" 2>/dev/null | wc -l) outputs, $(cat "$OUT"/* 2>/dev/null | wc -c) bytes"
}

run "imageMogr2/format/webp/quality/75" imageMogr2/format/webp/quality/75 \
  -n "cwebp -q 75, xargs -P 2" \
  "bash -c 'mkdir -p $OUT; ls $IN/* | xargs -P 2 -I{} sh -c \"cwebp -quiet -q 75 {} -o $OUT/\\\$(basename {}).webp || true\"'" \
  -n "vips copy [Q=75], xargs -P 2" \
  "bash -c 'mkdir -p $OUT; ls $IN/* | xargs -P 2 -I{} sh -c \"vips copy {} $OUT/\\\$(basename {}).webp[Q=75] || true\"'"
echo
count "mogr webp" "$MOGR process imageMogr2/format/webp/quality/75 $IN --out-dir $OUT --json"
count "cwebp" "mkdir -p $OUT; for f in $IN/*; do cwebp -quiet -q 75 \$f -o $OUT/\$(basename \$f).webp; done"
count "vips" "mkdir -p $OUT; for f in $IN/*; do vips copy \$f $OUT/\$(basename \$f).webp[Q=75]; done"
run "imageSlim" imageSlim
count "mogr imageSlim" "$MOGR process imageSlim $IN --out-dir $OUT --json"
