#!/usr/bin/env bash
# benches/compare/slim_time.sh [CORPUS_DIR] [KIND]
#
# imageSlim time per file: `mogr process imageSlim` on every file of CORPUS_DIR/KIND (default
# ../shared/corpus, jpeg), one process per file, the best wall time of RUNS runs (default 3)
# in milliseconds, the output's bytes and the quality mogr chose; then the sums. Compare two
# builds with MOGR=path/to/mogr (default: this checkout's release build).
#
# The reference for JPEG is jpeg-recompress, which neither Debian nor the Rust package
# registry offers: its time comes from ../shared/bench/results/ref_slim.tsv (another run on
# the same corpus), scaled by the libjpeg-turbo bisection's time in both runs; see
# benches/README.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CORPUS=${1:-$ROOT/../shared/corpus}
KIND=${2:-jpeg}
RUNS=${RUNS:-3}
if [ -z "${MOGR:-}" ]; then
  cargo build --release -q -p mogr-cli --manifest-path "$ROOT/Cargo.toml"
  MOGR=$ROOT/target/release/mogr
fi
[ -d "$CORPUS/$KIND" ] || { echo "no $CORPUS/$KIND: nothing to measure" >&2; exit 0; }
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
printf 'file\tms\tbytes\tquality\n'
total_ms=0 total_bytes=0
for f in "$CORPUS/$KIND"/*; do
  [ -f "$f" ] || continue
  best=
  for _ in $(seq "$RUNS"); do
    start=$(date +%s%N)
    json=$("$MOGR" process imageSlim "$f" "$OUT/out" 2>/dev/null) || json='{}'
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  bytes=$(stat -c%s "$OUT/out" 2>/dev/null || echo 0)
  quality=$(printf '%s' "$json" | sed -n 's/.*"quality":\([0-9]*\).*/\1/p')
  printf '%s\t%s\t%s\t%s\n' "$(basename "$f")" "$best" "$bytes" "${quality:--}"
  total_ms=$((total_ms + best)) total_bytes=$((total_bytes + bytes))
  rm -f "$OUT/out"
done
printf 'total\t%s\t%s\t-\n' "$total_ms" "$total_bytes"
