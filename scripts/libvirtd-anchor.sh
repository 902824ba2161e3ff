#!/usr/bin/env bash
# libvirtd-anchor.sh start|stop|restart|status DIR [--tcp PORT]
#
# Runs a real libvirtd (with its own virtlogd) as a throw-away test instance whose whole state
# lives in DIR, so Corral's interop tests have an oracle to compare corrald against.
#
#   start DIR [--tcp PORT]  starts it, waits for the socket, prints the rw socket URI on stdout and
#                           writes DIR/anchor.env (URI, URI_RO, TCP_URI, LIBVIRTD_PID, ...)
#   restart DIR             kills libvirtd (SIGTERM) and starts a new one in the same namespace;
#                           running guests keep running (like `systemctl restart libvirtd`)
#   stop DIR                kills the guests, libvirtd, virtlogd and the namespace it started
#   status DIR              exit 0 when running
#
# How: libvirtd runs as root in "system" mode, but in a private mount namespace where DIR's
# subdirectories are bind-mounted over the compiled-in paths (/etc/libvirt, /run/libvirt,
# /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt), so nothing on the host is touched except
# those empty mount points. Sockets therefore appear at DIR/run/libvirt-sock and
# DIR/run/libvirt-sock-ro (the layout corrald uses), guest logs at DIR/log/qemu/NAME.log.
# tini is the subreaper of everything in the namespace: libvirt daemonizes QEMU (double fork) and
# polls the pid with kill(pid, 0) after SIGTERM, so a QEMU zombie waiting for the host's slow init
# would make `virsh destroy` time out.
# Sandbox workarounds (qemu.conf): no AppArmor/SELinux (security_driver none), no cgroups
# (cgroup_controllers []: no machined, cgroup v1 here), no per-guest /dev namespace, QEMU runs as
# root (but the Debian default user libvirt-qemu must exist: it is added to the namespace's
# /etc/passwd copy; libvirt-daemon-system would create it on the host), no default
# network (guests use <interface type='user'>, so no dnsmasq/bridge).
set -euo pipefail

die() { echo "libvirtd-anchor: $*" >&2; exit 1; }
usage() { die "usage: $0 start|stop|restart|status DIR [--tcp PORT]"; }

[ $# -ge 2 ] || usage
cmd=$1
[ "$cmd" = _inner ] || { mkdir -p "$2" && DIR=$(cd "$2" && pwd); }
[ "$cmd" = _inner ] && DIR=$2
SELF=$(readlink -f "${BASH_SOURCE[0]}")
MOUNTS=(etc:/etc/libvirt run:/run/libvirt lib:/var/lib/libvirt log:/var/log/libvirt cache:/var/cache/libvirt)

alive() { # pid is running and not a zombie
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}
wait_gone() { # pid timeout_s
  local i=0
  while alive "$1"; do
    i=$((i + 1)); [ $i -le $(($2 * 20)) ] || return 1
    sleep 0.05
  done
}
readpid() { [ -s "$1" ] && tr -dc 0-9 <"$1"; }

# --- inside the namespace: mounts, virtlogd, libvirtd (restarted on request) -------------
inner() {
  local m
  for m in "${MOUNTS[@]}"; do mount --bind "$DIR/${m%%:*}" "${m#*:}"; done
  # The QEMU driver resolves its compiled-in default user before reading qemu.conf.
  mount --bind "$DIR/passwd" /etc/passwd
  mount --bind "$DIR/group" /etc/group
  virtlogd -f /etc/libvirt/virtlogd.conf -p /run/libvirt/virtlogd.pid &
  local vpid=$!
  local i=0
  until [ -S /run/libvirt/virtlogd-sock ]; do
    i=$((i + 1)); [ $i -le 200 ] || { echo "virtlogd did not start" >&2; kill "$vpid"; exit 1; }
    sleep 0.05
  done
  local listen=()
  [ -s "$DIR/tcp-port" ] && listen=(--listen)
  while :; do
    rm -f "$DIR/restart-requested"
    libvirtd -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid "${listen[@]}" &
    wait $! || true
    [ -e "$DIR/restart-requested" ] || break
  done
  kill -TERM "$vpid" 2>/dev/null || true
  wait "$vpid" || true
}

write_config() { # port (may be empty)
  local port=$1 tcp=0
  [ -n "$port" ] && tcp=1
  mkdir -p "$DIR"/{etc,run,lib,log,cache}
  cat >"$DIR/etc/libvirtd.conf" <<EOF
# Test instance: no TLS, no authentication, plain TCP on loopback only.
listen_tls = 0
listen_tcp = $tcp
listen_addr = "127.0.0.1"
tcp_port = "${port:-16509}"
auth_tcp = "none"
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0700"
log_outputs = "3:stderr"
EOF
  cat >"$DIR/etc/qemu.conf" <<'EOF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
EOF
  cat >"$DIR/etc/virtlogd.conf" <<'EOF'
log_outputs = "3:stderr"
EOF
  # Debian's libvirtd refuses to start unless user/group libvirt-qemu exist (libvirt-daemon-system
  # creates them); add them in the namespace's view of /etc/passwd and /etc/group only.
  cp /etc/passwd "$DIR/passwd"; cp /etc/group "$DIR/group"
  grep -q '^libvirt-qemu:' "$DIR/passwd" || echo 'libvirt-qemu:x:64055:64055:libvirt:/var/lib/libvirt:/usr/sbin/nologin' >>"$DIR/passwd"
  grep -q '^libvirt-qemu:' "$DIR/group" || echo 'libvirt-qemu:x:64055:' >>"$DIR/group"
  # The client library reads libvirt.conf from here only inside the namespace; keep it empty.
  : >"$DIR/etc/libvirt.conf"
  printf %s "$port" >"$DIR/tcp-port"
}

start() {
  local port=""
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      --tcp) [ $# -ge 2 ] || usage; port=$2; shift 2 ;;
      *) usage ;;
    esac
  done
  [ "$(id -u)" = 0 ] || die "needs root: system-mode libvirtd in a private mount namespace"
  for t in libvirtd virtlogd tini unshare; do
    command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] ||
      die "$t not found: install libvirt-daemon (no recommends), libvirt-clients, tini"
  done
  local tpid; tpid=$(readpid "$DIR/anchor.pid" 2>/dev/null || true)
  [ -n "$tpid" ] && alive "$tpid" && die "already running in $DIR (pid $tpid)"
  write_config "$port"
  local m
  for m in "${MOUNTS[@]}"; do mkdir -p "${m#*:}"; done # mount points only; they stay empty on the host
  rm -f "$DIR/run/libvirt-sock" "$DIR/run/libvirt-sock-ro" "$DIR/run/libvirtd.pid" "$DIR/restart-requested"
  PATH=/usr/sbin:/usr/bin:/sbin:/bin setsid unshare --mount --propagation private \
    tini -s -g -- "$SELF" _inner "$DIR" </dev/null >>"$DIR/log/anchor.log" 2>&1 &
  echo $! >"$DIR/anchor.pid"
  wait_ready "$!" || { tail -n 20 "$DIR/log/anchor.log" >&2; stop >/dev/null 2>&1 || true; die "libvirtd did not come up (log: $DIR/log/anchor.log)"; }
  write_env
  echo "qemu+unix:///system?socket=$DIR/run/libvirt-sock"
}

wait_ready() { # tini pid; waits until libvirtd answers on its rw socket
  local i=0
  while :; do
    alive "$1" || return 1
    if [ -S "$DIR/run/libvirt-sock" ] &&
      virsh -q -c "qemu+unix:///system?socket=$DIR/run/libvirt-sock" uri >/dev/null 2>&1; then
      return 0
    fi
    i=$((i + 1)); [ $i -le 1200 ] || return 1 # 60 s: the first start probes QEMU's capabilities
    sleep 0.05
  done
}

write_env() {
  local port; port=$(cat "$DIR/tcp-port")
  {
    echo "URI='qemu+unix:///system?socket=$DIR/run/libvirt-sock'"
    echo "URI_RO='qemu+unix:///system?socket=$DIR/run/libvirt-sock-ro'"
    [ -n "$port" ] && echo "TCP_URI='qemu+tcp://127.0.0.1:$port/system'"
    echo "LIBVIRTD_PID=$(readpid "$DIR/run/libvirtd.pid")"
    echo "ANCHOR_PID=$(readpid "$DIR/anchor.pid")"
    echo "GUEST_LOG_DIR='$DIR/log/qemu'"
  } >"$DIR/anchor.env"
}

restart() {
  local tpid lpid
  tpid=$(readpid "$DIR/anchor.pid") && alive "$tpid" || die "not running in $DIR"
  lpid=$(readpid "$DIR/run/libvirtd.pid") || die "no libvirtd pid in $DIR/run"
  touch "$DIR/restart-requested"
  kill -TERM "$lpid"
  wait_gone "$lpid" 30 || die "libvirtd $lpid did not exit"
  # The new libvirtd rewrites the pid file; wait for a pid other than the old one.
  local i=0
  until [ "$(readpid "$DIR/run/libvirtd.pid" 2>/dev/null || true)" != "$lpid" ] &&
    [ -n "$(readpid "$DIR/run/libvirtd.pid" 2>/dev/null || true)" ]; do
    i=$((i + 1)); [ $i -le 600 ] || die "libvirtd did not restart"
    sleep 0.05
  done
  wait_ready "$tpid" || die "restarted libvirtd does not answer"
  write_env
  echo "qemu+unix:///system?socket=$DIR/run/libvirt-sock"
}

stop() {
  local tpid lpid f qpid qpids=()
  tpid=$(readpid "$DIR/anchor.pid" 2>/dev/null || true)
  if [ -z "$tpid" ] || ! alive "$tpid"; then
    echo "libvirtd-anchor: not running in $DIR" >&2
    rm -f "$DIR/anchor.pid"
    return 0
  fi
  local ns; ns=$(readlink "/proc/$tpid/ns/mnt")
  # Guests first: libvirtd leaves them running on exit. Only QEMUs in our namespace.
  for f in "$DIR"/run/qemu/*.pid; do
    [ -e "$f" ] || continue
    qpid=$(readpid "$f") || continue
    [ "$(readlink "/proc/$qpid/ns/mnt" 2>/dev/null)" = "$ns" ] || continue
    kill -KILL "$qpid" 2>/dev/null || true
    qpids+=("$qpid")
  done
  # Let tini reap them before it exits, or they wait as zombies for the host's init.
  for qpid in "${qpids[@]}"; do
    for _ in $(seq 100); do [ -e "/proc/$qpid" ] || break; sleep 0.05; done
  done
  rm -f "$DIR/restart-requested"
  lpid=$(readpid "$DIR/run/libvirtd.pid" 2>/dev/null || true)
  if [ -n "$lpid" ] && [ "$(readlink "/proc/$lpid/ns/mnt" 2>/dev/null)" = "$ns" ]; then
    kill -TERM "$lpid" 2>/dev/null || true
    wait_gone "$lpid" 20 || kill -KILL "$lpid" 2>/dev/null || true
  fi
  # The inner script then stops virtlogd and exits, and tini with it.
  wait_gone "$tpid" 20 || { kill -TERM "$tpid" 2>/dev/null || true; wait_gone "$tpid" 5 || kill -KILL "$tpid" 2>/dev/null || true; }
  rm -f "$DIR/anchor.pid" "$DIR/anchor.env"
  echo "libvirtd-anchor: stopped ($DIR)" >&2
}

case $cmd in
  start) start "$@" ;;
  stop) stop ;;
  restart) restart ;;
  status) tpid=$(readpid "$DIR/anchor.pid" 2>/dev/null || true); [ -n "$tpid" ] && alive "$tpid" ;;
  _inner) inner ;;
  *) usage ;;
esac
