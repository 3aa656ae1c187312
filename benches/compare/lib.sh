# benches/compare/lib.sh: shared by the comparison scripts (source it).
#
# compare TITLE EXT FILES_ARRAY_NAME [POST_COMMAND] [SCORE_COMMAND]
#   Reads "name<TAB>command template" lines on stdin (templates use $IN, $OUT and $IM);
#   runs each tool over every file, one process per file, timed by hyperfine over the whole
#   set ($RUNS runs, $WARMUP warm-ups, default 1); then runs POST_COMMAND (if any) on each
#   tool's output folder, e.g. to strip metadata; prints a markdown table with ratios to the
#   first tool. SCORE_COMMAND OUTDIR (if any) prints a quality figure for a tool's outputs.
#   With $REPORT_TSV set, appends "title, tool, ms, bytes, score" rows to it.
#   NO_BYTES=1 leaves bytes out (operations whose outputs are not images).
# Needs: $WORK (a scratch folder), $IM (ImageMagick), hyperfine, jq.

find_imagemagick() {
  # The real ImageMagick: `magick`, else Debian's /usr/bin/convert (another `convert` may
  # come first on PATH).
  IM=$(command -v magick || echo /usr/bin/convert)
  "$IM" -version 2>/dev/null | grep -q ImageMagick || { echo "ImageMagick not found" >&2; exit 1; }
}

compare() {
  local title=$1 ext=$2 files_var=$3[@] post=${4:-} scorer=${5:-}
  local -a files=("${!files_var}") names=() tpls=()
  local n t
  while IFS=$'\t' read -r n t; do names+=("$n"); tpls+=("$t"); done
  declare -A ms bytes score
  local i name out script
  for i in "${!names[@]}"; do
    name=${names[$i]} out=$WORK/$ext-${names[$i]} script=$WORK/$ext-${names[$i]}.sh
    mkdir -p "$out"
    { printf 'IM=%q\n' "$IM"; for f in "${files[@]}"; do
        printf 'IN=%q; OUT=%q; { %s ; } >/dev/null 2>&1 || true\n' "$f" "$out/$(basename "${f%.*}").$ext" "${tpls[$i]}"
      done; } > "$script"
    hyperfine -N --warmup "${WARMUP:-1}" --runs "$RUNS" --export-json "$script.json" "bash $script" >/dev/null
    ms[$name]=$(jq '.results[0].mean*1000' "$script.json")
    [ -z "$post" ] || $post "$out"
    bytes[$name]=$(cat "$out"/* 2>/dev/null | wc -c)
    [ "${NO_BYTES:-0}" = 1 ] && bytes[$name]=0
    score[$name]=-
    [ -z "$scorer" ] || score[$name]=$($scorer "$out")
    [ -z "${REPORT_TSV:-}" ] || printf '%s\t%s\t%s\t%s\t%s\n' "$title" "$name" "${ms[$name]}" "${bytes[$name]}" "${score[$name]}" >> "$REPORT_TSV"
  done
  local first=${names[0]}
  echo
  echo "### $title (${#files[@]} files)"
  echo
  echo "| tool | time (ms, whole set) | time / $first | bytes | bytes / $first | score |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  for name in "${names[@]}"; do
    awk -v n="$name" -v t="${ms[$name]}" -v b="${bytes[$name]}" -v tm="${ms[$first]}" -v bm="${bytes[$first]}" -v s="${score[$name]}" \
      'BEGIN { printf "| %s | %.0f | %.2f | %d | %.3f | %s |\n", n, t, t/tm, b, (bm ? b/bm : 0), s }'
  done
}

# use_mogr_and_tools ROOT : $MOGR (built here in release when unset), and the reference tools
# that ../shared/bench/install_tools.sh installs ($BENCH_TOOLS, else ROOT/../shared/bench/tools,
# else ~/.cache/mogr-bench-tools) first on PATH, then the system's (Debian's ImageMagick).
use_mogr_and_tools() {
  local root=$1 t
  if [ -z "${MOGR:-}" ]; then
    cargo build --release -q -p mogr-cli --manifest-path "$root/Cargo.toml"
    MOGR=$root/target/release/mogr
  fi
  t=${BENCH_TOOLS:-$root/../shared/bench/tools}
  [ -d "$t/bin" ] || t=$HOME/.cache/mogr-bench-tools
  export PATH="$t/bin:/usr/bin:$PATH"
}
