#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seeds for a long run: the repo's test images and, when
# ../shared/corpus exists, its files under 300 KB; each decode target gets only files of
# its own format (the harness skips the rest). The `process` target reads its first byte as a
# selector (even: one of six fixed rules on the rest; odd: the rest is a rule applied to a
# small JPEG), so every image is seeded once per fixed rule and the rule strings found in the
# repo's tests are seeded behind an odd byte. `parse_rule` gets those rule strings alone.
# Usage: fuzz/seed.sh [target ...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")"
shared=../../shared/corpus

images() { # images of the extensions given, repo first, then the shared corpus's small files
  local exts=("$@") dirs=(../tests/images) e
  [ -d "$shared" ] && dirs+=("$shared")
  for e in "${exts[@]}"; do
    find "${dirs[@]}" -type f -iname "*.$e" -size -300k 2>/dev/null
  done
}

rules() { # every imageMogr2/imageSlim/imageInfo rule literal in the repo's tests and sources
  grep -rhoE '"image(Mogr2|Slim|Info)[^" ]*"' ../tests ../crates ../src 2>/dev/null | tr -d '"' | sort -u
}

seed_files() { # dir, then files: copies each under its hash so reruns do not duplicate
  local dir=$1 f
  shift
  mkdir -p "$dir"
  for f in "$@"; do cp "$f" "$dir/$(sha1sum "$f" | cut -c1-16)"; done
}

seed_strings() { # dir, prefix byte (octal escape or empty); one seed per rule line on stdin
  local dir=$1 prefix=$2 rule
  mkdir -p "$dir"
  while IFS= read -r rule; do
    printf "${prefix}%s" "$rule" >"$dir/rule-$(printf '%s' "$rule" | sha1sum | cut -c1-16)"
  done
}

all_images=(jpg jpeg mpo png gif webp heic heif avif bmp)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(parse_rule process quality_estimate requantize info slim
  decode_jpeg decode_png decode_gif decode_webp decode_bmp decode_heif)

for t in "${targets[@]}"; do
  dir=corpus/$t
  case $t in
    parse_rule) rules | seed_strings "$dir" "" ;;
    process)
      mkdir -p "$dir"
      while IFS= read -r f; do
        for sel in 0 2 4 6 8 10; do
          { printf "\\$(printf '%03o' "$sel")"; cat "$f"; } >"$dir/$sel-$(sha1sum "$f" | cut -c1-16)"
        done
      done < <(images "${all_images[@]}")
      rules | seed_strings "$dir" '\001'
      ;;
    quality_estimate | requantize) mapfile -t fs < <(images jpg jpeg mpo); seed_files "$dir" "${fs[@]}" ;;
    decode_jpeg) mapfile -t fs < <(images jpg jpeg mpo); seed_files "$dir" "${fs[@]}" ;;
    decode_png) mapfile -t fs < <(images png); seed_files "$dir" "${fs[@]}" ;;
    decode_gif) mapfile -t fs < <(images gif); seed_files "$dir" "${fs[@]}" ;;
    decode_webp) mapfile -t fs < <(images webp); seed_files "$dir" "${fs[@]}" ;;
    decode_bmp) mapfile -t fs < <(images bmp); seed_files "$dir" "${fs[@]}" ;;
    decode_heif) mapfile -t fs < <(images heic heif avif); seed_files "$dir" "${fs[@]}" ;;
    info | slim) mapfile -t fs < <(images "${all_images[@]}"); seed_files "$dir" "${fs[@]}" ;;
    *) echo "seed: unknown target $t" >&2; exit 2 ;;
  esac
  echo "seed: $t: $(ls "$dir" | wc -l) files in $dir"
done
