#!/usr/bin/env bash
# imageSlim against the smart-compression references, in one run of ../shared/bench/ref_slim.sh
# (libjpeg-turbo quality bisection to SSIMULACRA2 >= 80, jpeg-recompress and mozjpeg where
# installed, jpegoptim; pngquant + oxipng, oxipng, optipng). Prints the TSV (per file and
# TOTAL rows: bytes saved, SSIMULACRA2 of each output against its input, time).
#
#   benches/compare/slim.sh [CORPUS_DIR]        # default ../shared/corpus
#   MOGR=path/to/mogr benches/compare/slim.sh   # default target/release/mogr (built here)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus=${1:-$root/../shared/corpus}
bench=$root/../shared/bench
[ -x "$bench/ref_slim.sh" ] || { echo "slim.sh: $bench/ref_slim.sh not found" >&2; exit 1; }
if [ -z "${MOGR:-}" ]; then
  cargo build --release -q -p mogr-cli --manifest-path "$root/Cargo.toml"
  MOGR=$root/target/release/mogr
fi
export PATH=$PATH:$bench/tools/bin
tools=$(mktemp)
trap 'rm -f "$tools"' EXIT
printf 'jpeg:mogr\t%s process imageSlim "$IN" "$OUT"\n' "$MOGR" >> "$tools"
printf 'png:mogr\t%s process imageSlim "$IN" "$OUT"\n' "$MOGR" >> "$tools"
# The same with metadata stripped, as the libjpeg-turbo pipeline does (it drops every block).
printf 'jpeg:mogr-strip\t%s process --strip all imageSlim "$IN" "$OUT"\n' "$MOGR" >> "$tools"
EXTRA_TOOLS=$tools "$bench/ref_slim.sh" "$corpus"
