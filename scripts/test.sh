#!/usr/bin/env bash
# Runs every test: installs system packages, builds, then `swift test`.
# Tests that boot guests build the tiny guest (cached in .build/tiny-guest).
# Then the interop suite (tests/interop): real virsh, python3-libvirt and prometheus-libvirt-exporter
# against a real libvirtd and against corrald (INTEROP=0 skips it; see tests/interop/README.md).
# Between the two, scripts/fuzz.sh 20: each GuestFS fuzz target for 20 s (FUZZ=0 skips it).
# Last, the browser suite (tests/browser): headless Chromium drives corrald's web console
# (BROWSER=0 skips it; see tests/browser/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build --build-tests
# Serially: guests boot under TCG on 2 cores, and parallel suites starve each other into timeouts.
swift test --skip-build --no-parallel "$@"
# Bounded libFuzzer run over the image readers (about 3-4 minutes with the fuzzer build; FUZZ=0 skips).
if [ "${FUZZ:-1}" != 0 ]; then
  scripts/fuzz.sh 20
fi
if [ "${INTEROP:-1}" != 0 ]; then
  # Debian's interpreter: python3-libvirt and pytest come from apt, not from a pyenv on PATH.
  /usr/bin/python3 -m pytest tests/interop -q -rs
fi
if [ "${BROWSER:-1}" != 0 ]; then
  /usr/bin/python3 -m pytest tests/browser -q -rs
fi
