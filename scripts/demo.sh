#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is needed, build Corral,
# make the tiny guest, define and boot it, show its console output, and leave it
# running with directions to reach it.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${CORRAL_DEMO_DIR:-$HOME/corral-demo}
URI="qemu:///embed?root=$DEMO/root"

scripts/setup.sh
echo "demo: building corral (swift build)..." >&2
swift build --product corral 2>&1 | tail -n 1 >&2
CORRAL="$(swift build --show-bin-path)/corral"

echo "demo: making the tiny guest in $DEMO/guest..." >&2
scripts/tiny-guest.sh "$DEMO/guest"

c() { "$CORRAL" -c "$URI" "$@"; }
if ! c domstate tiny >/dev/null 2>&1; then
  c define "$DEMO/guest/tiny.xml"
fi
if [ "$(c domstate tiny)" != "running" ]; then
  c start tiny
fi

LOG="$DEMO/root/log/qemu/tiny-serial0.log"
echo "demo: waiting for the guest to boot (TCG, ~10 s)..." >&2
for _ in $(seq 1 120); do
  grep -q 'corral-tiny-guest: ready' "$LOG" 2>/dev/null && break
  sleep 1
done
echo "----- serial console of 'tiny' ($LOG) -----"
tail -n 15 "$LOG" | sed -e "s/\x1b\[6n//g" -e "s/\r//g"   # drop the shell's cursor queries
echo "--------------------------------------------"
c list --all
cat <<EOM

The guest 'tiny' is running. Reach it with:
  $CORRAL -c '$URI' console tiny      # serial console (Ctrl-] leaves)
  $CORRAL -c '$URI' dominfo tiny
  $CORRAL -c '$URI' shutdown tiny     # graceful ACPI shutdown
Its boot output is in $LOG
EOM
