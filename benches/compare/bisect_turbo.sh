#!/usr/bin/env bash
# benches/compare/bisect_turbo.sh IN OUT [TARGET]
#
# The smart compression a user scripts by hand from libjpeg-turbo: the smallest
# `djpeg | cjpeg -optimize -quality q` (q bisected in 20..95) whose SSIMULACRA2 against IN
# is at least TARGET (default 80); IN itself when nothing qualifies or nothing is smaller.
# The same search as ../shared/bench/ref_slim.sh's s2bisect-turbo, one file per call, so
# that report.sh can time it like any other tool. Needs djpeg, cjpeg, ssimulacra2_rs and
# ImageMagick ($IM, else `magick` or /usr/bin/convert).
set -euo pipefail
in=$1 out=$2 target=${3:-80}
IM=${IM:-$(command -v magick || echo /usr/bin/convert)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Both sides as a viewer shows them (orientation applied; djpeg | cjpeg drops the tag).
"$IM" "$in[0]" -auto-orient -colorspace sRGB -depth 8 "PNG24:$tmp/ref.png"
lo=20 hi=95 best=
while [ "$lo" -le "$hi" ]; do
  mid=$(( (lo + hi) / 2 ))
  djpeg "$in" | cjpeg -optimize -quality "$mid" > "$tmp/c.jpg"
  "$IM" "$tmp/c.jpg" -colorspace sRGB -depth 8 "PNG24:$tmp/c.png"
  s=$(ssimulacra2_rs image "$tmp/ref.png" "$tmp/c.png" | awk '/Score/{print $2}')
  if awk -v a="${s:--1000}" -v t="$target" 'BEGIN { exit !(a >= t) }'; then
    best=$mid; cp "$tmp/c.jpg" "$tmp/best.jpg"; hi=$(( mid - 1 ))
  else
    lo=$(( mid + 1 ))
  fi
done
if [ -n "$best" ] && [ "$(stat -c%s "$tmp/best.jpg")" -lt "$(stat -c%s "$in")" ]; then
  cp "$tmp/best.jpg" "$out"
else
  cp "$in" "$out"
fi
