#!/usr/bin/env bash
# Runs every test: installs system packages, builds, then `swift test`.
# Tests that boot guests build the tiny guest (cached in .build/tiny-guest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
# Serially: guests boot under TCG on 2 cores, and parallel suites starve each other into timeouts.
swift test --skip-build --no-parallel "$@"
