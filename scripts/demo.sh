#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what is needed, build Corral, make the
# tiny guest, start corrald (remote protocol + web console) and boot the guest through it,
# show its console output, and leave both running with directions to reach them.
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO=${CORRAL_DEMO_DIR:-$HOME/corral-demo}
HTTP=${CORRAL_HTTP:-127.0.0.1:8080}
URI="qemu+unix:///system?socket=$DEMO/root/run/libvirt-sock"

scripts/setup.sh
echo "demo: building corral and corrald (swift build)..." >&2
swift build --product corrald 2>&1 | tail -n 1 >&2
swift build --product corral 2>&1 | tail -n 1 >&2
BIN="$(swift build --show-bin-path)"
CORRAL="$BIN/corral"

echo "demo: making the tiny guest in $DEMO/guest..." >&2
scripts/tiny-guest.sh "$DEMO/guest"

mkdir -p "$DEMO/root"
if ! "$CORRAL" -c "$URI" uri >/dev/null 2>&1; then
  echo "demo: starting corrald (root $DEMO/root, web console on $HTTP)..." >&2
  nohup "$BIN/corrald" --root "$DEMO/root" --http "$HTTP" >"$DEMO/corrald.log" 2>&1 &
  for _ in $(seq 1 50); do
    grep -q 'web console on' "$DEMO/corrald.log" 2>/dev/null && break
    if ! kill -0 $! 2>/dev/null; then cat "$DEMO/corrald.log" >&2; exit 1; fi
    sleep 0.2
  done
fi
WEB=$(grep -o 'web console on [^ ]*' "$DEMO/corrald.log" | tail -n 1 | cut -d' ' -f4)

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

The guest 'tiny' is running under corrald (pid $(cat "$DEMO/root/run/corrald.pid"), log $DEMO/corrald.log).
  Web console:  $WEB   (guest list, consoles, graphs, new-guest wizard)
  $CORRAL -c '$URI' console tiny      # serial console (Ctrl-] leaves)
  $CORRAL -c '$URI' dominfo tiny
  virsh -c '$URI' list --all          # libvirt's own client works too
  curl -s ${WEB}metrics | grep libvirt_domain_state_code
  $CORRAL -c '$URI' shutdown tiny     # graceful ACPI shutdown
  kill \$(cat $DEMO/root/run/corrald.pid)   # stop the daemon (guests keep running)
Its boot output is in $LOG
EOM
