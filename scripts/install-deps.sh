#!/usr/bin/env bash
# Installs the system packages mogr's build and tests need, on Debian 12 / Ubuntu, as root
# (or through sudo). Safe to run again.
#   - build: a C compiler and pkg-config (for crates that build C code)
#   - tests: reference tools the tests check outputs with: libjpeg-turbo (cjpeg, djpeg),
#     libwebp (cwebp, dwebp), gifsicle, pngcheck
set -euo pipefail

packages=(build-essential pkg-config libjpeg-turbo-progs webp gifsicle pngcheck)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: no apt-get here; install these yourself: ${packages[*]}" >&2
  exit 0
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all system packages present"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root for: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
