#!/usr/bin/env bash
# The test command: sets everything up (./install.sh --no-demo), then runs
# formatting and lint checks, the unit tests and the end-to-end tests that
# boot real machines.
set -euo pipefail
cd "$(dirname "$0")"
export HUTCH_GUEST_DIR="$PWD/target/guest"
export HUTCH_BIN_DIR="$PWD/target/bin"
./install.sh --no-demo
cargo fmt --all --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked -p hutch-agent --target x86_64-unknown-linux-musl -- -D warnings
cargo test --locked --workspace
