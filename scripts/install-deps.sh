#!/usr/bin/env bash
# Installs the system packages mogr's build and tests need, on Debian 12 / Ubuntu, as root
# (or through sudo). Safe to run again.
#   - build: a C compiler and pkg-config (for crates that build C code, libwebp among them)
#   - HEIF/AVIF: libheif 1.17 or newer with its decoder/encoder plugins (LGPL, loaded
#     dynamically; x265 and aom run as libheif plugins, never linked into mogr). Debian 12
#     has it in bookworm-backports: the backports source is added by copying the machine's
#     own Debian entry with the suite changed.
#   - tests: reference tools the tests check outputs with: libjpeg-turbo (cjpeg, djpeg),
#     ImageMagick (identify, for ImageInfo fields),
#     libwebp (cwebp, dwebp, webpmux), gifsicle, pngcheck, libheif (heif-dec, heif-info)
set -euo pipefail

packages=(build-essential pkg-config libjpeg-turbo-progs webp gifsicle pngcheck imagemagick)
heif_packages=(libheif-dev libheif-plugin-libde265 libheif-plugin-x265 libheif-plugin-aomenc
  libheif-plugin-dav1d libheif-examples)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: no apt-get here; install these yourself: ${packages[*]} ${heif_packages[*]}" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
heif_ok() { pkg-config --atleast-version=1.17 libheif 2>/dev/null; }

missing=()
for p in "${packages[@]}" "${heif_packages[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ] && heif_ok; then
  echo "install-deps: all system packages present"
  exit 0
fi

$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"

codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
heif_from=()
if [ "$codename" = bookworm ]; then
  if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      awk 'BEGIN{RS="";ORS="\n"} NR==1' /etc/apt/sources.list.d/debian.sources \
        | sed 's/^Suites: .*/Suites: bookworm-backports/' | $sudo tee /etc/apt/sources.list.d/backports.sources >/dev/null
    elif [ -f /etc/apt/sources.list ]; then
      grep -m1 '^deb .* bookworm main' /etc/apt/sources.list | sed 's/ bookworm / bookworm-backports /' \
        | $sudo tee /etc/apt/sources.list.d/backports.list >/dev/null
    fi
    $sudo apt-get update -qq
  fi
  heif_from=(-t bookworm-backports)
fi
$sudo apt-get install -y -qq --no-install-recommends "${heif_from[@]}" "${heif_packages[@]}"
heif_ok || { echo "install-deps: libheif >= 1.17 not available; the mogr library builds without it (HEIF/AVIF are its opt-in feature \`heif\`), the CLI with --no-default-features" >&2; exit 1; }
echo "install-deps: done (libheif $(pkg-config --modversion libheif))"
