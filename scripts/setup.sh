#!/usr/bin/env bash
# One command on a fresh Debian/Ubuntu machine: install what the build needs, build the
# `mogr` CLI, and run the main job once on a sample image shipped in the repo.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --release -p mogr-cli

sample=tests/images/jpeg/pil-flower.jpg
out=target/sample-q60-progressive.jpg
rule='imageMogr2/quality/60/interlace/1'
echo "setup: mogr process '$rule' $sample $out"
./target/release/mogr process "$rule" "$sample" "$out"
echo "setup: $(stat -c %s "$sample") bytes in, $(stat -c %s "$out") bytes out; done"
