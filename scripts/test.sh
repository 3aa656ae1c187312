#!/usr/bin/env bash
# Runs every test of the workspace: unit, integration (on tests/images, and on
# ../shared/corpus when it exists), and doctests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-features "$@"
