#!/usr/bin/env bash
# Long fuzzing runs, one target after another on one core: `fuzz/run.sh TARGET:MINUTES ...`.
# Seeds each target's corpus first (fuzz/seed.sh) and builds it outside the time counted;
# runs it under the limits the smoke run uses; when libFuzzer stops on a finding (crash,
# timeout, out-of-memory, leak) it records the finding and goes on for the rest of the
# target's time, so one finding does not end the lane. Prints, per target, the seconds the
# fuzzer itself ran, the executions and the findings; the full libFuzzer output goes to
# fuzz/logs/<target>.log. Run two lanes on two cores, and nothing else heavy beside them:
# the time counted is wall-clock time.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
mkdir -p logs
for spec in "$@"; do
  target=${spec%%:*}
  budget=$((${spec##*:} * 60))
  ./seed.sh "$target" >/dev/null
  mkdir -p artifacts/"$target"
  # x265 (libheif's HEVC encoder plugin) keeps allocations that LeakSanitizer reports; the
  # targets that may encode HEIF run with leak detection off.
  leaks=1
  case $target in slim | process) leaks=0 ;; esac
  fuzzed=0 runs=0 findings=0
  while [ $((budget - fuzzed)) -ge 5 ]; do
    cargo fuzz build "$target" >>"logs/$target.log" 2>&1
    before=$(ls artifacts/"$target" | wc -l)
    start=$(date +%s)
    ASAN_OPTIONS=detect_leaks=$leaks cargo fuzz run "$target" "corpus/$target" -- \
      -max_total_time=$((budget - fuzzed)) -rss_limit_mb=2048 -timeout=20 \
      -detect_leaks=$leaks -print_final_stats=1 >"logs/$target.last" 2>&1 || true
    fuzzed=$((fuzzed + $(date +%s) - start))
    cat "logs/$target.last" >>"logs/$target.log"
    n=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "logs/$target.last" | grep -oE '[0-9]+$' || echo 0)
    runs=$((runs + n))
    after=$(ls artifacts/"$target" | wc -l)
    if [ "$after" -gt "$before" ]; then
      findings=$((findings + after - before))
      echo "run: $target: finding in artifacts/$target/ ($(ls -t artifacts/"$target" | head -1))"
    fi
  done
  echo "run: $target: fuzzed $fuzzed s, $runs runs, $findings findings"
done
