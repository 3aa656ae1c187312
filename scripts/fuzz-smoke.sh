#!/usr/bin/env bash
# Builds every fuzz target and runs each for a short time (default 20 s), seeded with the
# repo's test images. Installs cargo-fuzz when missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cargo fuzz build
for target in $(cargo fuzz list); do
  dir=corpus/$target
  mkdir -p "$dir"
  case $target in
    parse_rule) ;;
    *) cp ../tests/images/*/* "$dir"/ 2>/dev/null || true ;;
  esac
  echo "fuzz-smoke: $target for ${seconds}s"
  # x265 (libheif's HEVC encoder plugin) keeps a few allocations per encoder that
  # LeakSanitizer reports; the slim target encodes HEIF, so leak detection is off there.
  leaks=1
  [ "$target" = slim ] && leaks=0
  set +e
  ASAN_OPTIONS=detect_leaks=$leaks cargo fuzz run "$target" "$dir" -- -max_total_time="$seconds" \
    -rss_limit_mb=2048 -detect_leaks=$leaks 2>&1 | grep -E "^Done|ERROR|SUMMARY|panicked|Test unit written"
  status=${PIPESTATUS[0]}
  set -e
  # cargo fuzz exits non-zero on a crash, a leak, an out-of-memory or a timeout; an
  # artifact is not always written (a run that died once left none), so both are checked.
  if [ "$status" -ne 0 ] || ls artifacts/"$target"/crash-* artifacts/"$target"/oom-* artifacts/"$target"/timeout-* >/dev/null 2>&1; then
    echo "fuzz-smoke: $target failed (cargo fuzz exit status $status); artifacts:" >&2
    ls artifacts/"$target" >&2 || true
    exit 1
  fi
done
