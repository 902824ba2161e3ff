#!/usr/bin/env bash
# tiny-guest.sh DIR — builds a small bootable Linux guest for Corral's tests and demos.
#
# Writes into DIR:
#   vmlinuz      Debian's cloud kernel (version resolved via apt, never hard-coded)
#   initrd.img   gzip cpio: busybox-static, the kernel's virtio/ACPI modules, busybox init
#   data.qcow2   small ext4 data disk holding hello.txt ("corral data disk")
#   tiny.xml     libvirt domain XML (<domain type='qemu'> named "tiny") with absolute paths
#   cmdline      the kernel command line used in tiny.xml
# Verify with scripts/tiny-guest-check.py DIR (boots it under TCG).
# Caches the .deb and the extracted kernel in DIR/.cache; a re-run only redoes stale steps.
#
# Guest contract (what tests can rely on):
#   - serial console ttyS0 prints the line "corral-tiny-guest: ready" once setup is done,
#     then a root shell (prompt "tiny# ") that is respawned when it exits (the exit hangs up
#     the tty, so wait for the new prompt before typing again);
#   - /dev/vda (if present) is mounted on /mnt/data; a CD-ROM on a virtio-scsi controller
#     (<disk device='cdrom'><target dev='sda' bus='scsi'/>) is /dev/sr0, readable with
#     `mount -t iso9660 /dev/sr0 /mnt/cdrom` (not mounted at boot: media can change); eth0 (if present) is configured by DHCP
#     (QEMU user networking: 10.0.2.15); without a DHCP answer, ready comes ~3 s later;
#   - ACPI power button (QMP system_powerdown) powers off; `reboot`/`poweroff` in the shell work.
set -euo pipefail

KERNEL_META=linux-image-cloud-amd64
# Modules the guest loads at boot, with their dependencies; ones built into the kernel are skipped.
# button+evdev turn the ACPI power button into /dev/input/event* for busybox acpid.
# virtio_scsi+sr_mod+isofs read a CD-ROM on a virtio-scsi controller (the cloud kernel has no AHCI;
# IDE's ata_piix would probe the legacy channels at every boot).
WANTED_MODULES=(virtio_pci virtio_blk virtio_net virtio_console virtio_balloon virtio_rng ext4 button evdev
  virtio_scsi sr_mod isofs)
# Boot-time savers under TCG: no crypto self-tests, no speculative-execution patching,
# no TSC/timer re-checks, no PS/2 mouse probe.
CMDLINE="console=ttyS0 quiet panic=-1 mitigations=off cryptomgr.notests tsc=reliable no_timer_check i8042.noaux"

log() { echo "tiny-guest: $*" >&2; }
die() { echo "tiny-guest: error: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DIR"
mkdir -p "$1" || die "cannot create output directory $1"
OUT=$(cd "$1" && pwd)
# OUT goes verbatim into tiny.xml.
case $OUT in *[\'\"\&\<\>]*) die "output directory path must not contain quotes, & or angle brackets: $OUT" ;; esac
CACHE=$OUT/.cache
mkdir -p "$CACHE"
SELF=$(readlink -f "${BASH_SOURCE[0]}")

# --- host tools -------------------------------------------------------------------------
need_pkgs=()
# busybox-static and busybox conflict, so /bin/busybox is static iff busybox-static is installed.
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=(busybox-static)
need() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] || need_pkgs+=("$2"); }
need qemu-img qemu-utils
need mkfs.ext4 e2fsprogs
need cpio cpio
need depmod kmod
need xz xz-utils
need zstd zstd
need gzip gzip
if ((${#need_pkgs[@]})); then
  [ "$(id -u)" = 0 ] || die "missing ${need_pkgs[*]}; run as root or install them with apt-get"
  log "installing ${need_pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null; } ||
    die "apt-get install ${need_pkgs[*]} failed"
fi
export PATH=$PATH:/usr/sbin:/sbin
BUSYBOX=/bin/busybox

# --- resolve and fetch the kernel package ------------------------------------------------
apt_updated=0
apt_update() {
  [ "$apt_updated" = 0 ] || return 1
  log "running apt-get update"
  apt-get update -qq || die "apt-get update failed"
  apt_updated=1
}
# Sets KPKG (e.g. linux-image-6.1.0-56-cloud-amd64), KVER and DEB from the candidate of
# KERNEL_META; fails when apt knows no candidate. One apt-cache call: it is slow.
resolve_kernel() {
  local dep v
  dep=$(apt-cache show --no-all-versions "$KERNEL_META" 2>/dev/null |
    sed -n 's/^Depends: .*\(linux-image-[^ ,]*-cloud-amd64\)\( (= \([^)]*\))\)\{0,1\}.*/\1 \3/p' | head -n1)
  [ -n "$dep" ] || return 1
  KPKG=${dep%% *}
  v=${dep#* }
  [ -n "$v" ] || v=$(apt-cache policy "$KPKG" | awk '/Candidate:/ {print $2}')
  case $v in "" | "(none)") die "apt has no candidate for $KPKG" ;; esac
  KVER=${KPKG#linux-image-}
  DEB=$CACHE/${KPKG}_${v//:/%3a}_amd64.deb
}
download_kernel() {
  local tmp; tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
  if (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$KPKG" >/dev/null) &&
    mv "$tmp"/*.deb "$DEB"; then
    rmdir "$tmp"
  else
    rm -rf "$tmp"
    return 1
  fi
}

if ! resolve_kernel; then
  apt_update
  resolve_kernel ||
    die "apt has no candidate for $KERNEL_META with a linux-image-*-cloud-amd64 dependency (is Debian main in sources.list?)"
fi
log "kernel package $KPKG (kernel $KVER)"
if [ ! -f "$DEB" ]; then
  log "downloading $(basename "$DEB")"
  # Stale package lists point at versions the mirror no longer has: refresh once and retry.
  download_kernel || { apt_update && resolve_kernel && download_kernel; } ||
    die "apt-get download $KPKG failed"
  # Only the current kernel is kept in the cache.
  for old in "$CACHE"/linux-image-*; do
    [ "$old" = "$DEB" ] || [ "$old" = "$CACHE/$KPKG" ] || rm -rf "$old"
  done
fi

KROOT=$CACHE/$KPKG
if [ ! -e "$KROOT/.extracted" ] || [ "$DEB" -nt "$KROOT/.extracted" ]; then
  log "extracting $(basename "$DEB")"
  rm -rf "$KROOT"
  dpkg-deb -x "$DEB" "$KROOT" || die "dpkg-deb -x $DEB failed"
  # The package ships no modules.dep (postinst makes it); make one to resolve dependencies.
  depmod -b "$KROOT" "$KVER" || die "depmod failed on $KROOT"
  touch "$KROOT/.extracted"
fi
[ -f "$KROOT/boot/vmlinuz-$KVER" ] || die "$DEB has no boot/vmlinuz-$KVER"

if [ ! -f "$OUT/vmlinuz" ] || [ "$KROOT/.extracted" -nt "$OUT/vmlinuz" ]; then
  cp "$KROOT/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp" && mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
  log "wrote $OUT/vmlinuz"
fi

# --- initramfs ----------------------------------------------------------------------------
write_rootfs() { # $1 = staging root
  local R=$1 p
  mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,etc/acpi/PWRF,etc/udhcpc,proc,sys,dev,run,tmp,root,mnt/data,mnt/cdrom,var/log}
  chmod 1777 "$R/tmp"
  cp "$BUSYBOX" "$R/bin/busybox"
  # Applet links made at build time so boot does not pay for `busybox --install`.
  for p in $("$BUSYBOX" --list-full); do
    [ "$p" = bin/busybox ] || [ -e "$R/$p" ] || ln -s /bin/busybox "$R/$p"
  done
  # Without /dev/console in the archive the kernel starts /init with no stdio.
  [ "$(id -u)" = 0 ] && mknod -m 600 "$R/dev/console" c 5 1

  cat >"$R/init" <<'EOF'
#!/bin/sh
# Early setup, then busybox init runs /etc/init.d/rcS, the console shell and shutdown.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
exec /sbin/init
EOF
  chmod 755 "$R/init"

  cat >"$R/etc/inittab" <<'EOF'
::sysinit:/etc/init.d/rcS
::respawn:/bin/cttyhack /bin/sh -l
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/init.d/rcK
EOF

  cat >"$R/etc/init.d/rcS" <<'EOF'
#!/bin/sh
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
hostname tiny
while read -r m; do insmod "/lib/modules/$(uname -r)/$m" || echo "tiny: insmod $m failed"; done </etc/modules.boot
ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
  # -n: give up (not hang) when no lease comes; -q: exit once configured.
  udhcpc -i eth0 -s /etc/udhcpc/default.script -t 3 -T 1 -A 1 -n -q >/dev/null 2>&1 ||
    echo "tiny: DHCP on eth0 failed"
fi
if [ -e /sys/block/vda ]; then
  i=0; while [ ! -b /dev/vda ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
  mount -t ext4 /dev/vda /mnt/data || echo "tiny: mounting /dev/vda on /mnt/data failed"
fi
# The power button is an input device once button+evdev are loaded; acpid runs
# /etc/acpi/PWRF/00000080 on KEY_POWER.
ls /dev/input/event* >/dev/null 2>&1 && acpid -c /etc/acpi
echo "corral-tiny-guest: ready"
EOF

  cat >"$R/etc/init.d/rcK" <<'EOF'
#!/bin/sh
sync
umount /mnt/data 2>/dev/null || mount -o remount,ro /mnt/data 2>/dev/null
true
EOF
  chmod 755 "$R/etc/init.d/rcS" "$R/etc/init.d/rcK"

  printf '#!/bin/sh\npoweroff\n' >"$R/etc/acpi/PWRF/00000080"
  chmod 755 "$R/etc/acpi/PWRF/00000080"

  cat >"$R/etc/udhcpc/default.script" <<'EOF'
#!/bin/sh
case "$1" in
  deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    ;;
esac
exit 0
EOF
  chmod 755 "$R/etc/udhcpc/default.script"

  echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
  echo 'root:x:0:' >"$R/etc/group"
  cat >"$R/etc/profile" <<'EOF'
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/root TERM=${TERM:-vt100}
PS1='tiny# '
cd /root
EOF
}

add_modules() { # $1 = staging root; resolves WANTED_MODULES with modprobe against the kernel tree
  local R=$1 m line path rel dst seen=" "
  local moddir=$KROOT/lib/modules/$KVER
  mkdir -p "$R/lib/modules/$KVER"
  : >"$R/etc/modules.boot"
  for m in "${WANTED_MODULES[@]}"; do
    out=$(modprobe -d "$KROOT" -S "$KVER" --show-depends "$m" 2>&1) || die "kernel $KVER has no module $m: $out"
    while read -r line; do
      case $line in
        builtin\ *) continue ;;
        insmod\ *) path=${line#insmod }; path=${path%% *} ;;
        *) die "unexpected modprobe output for $m: $line" ;;
      esac
      rel=${path#"$moddir"/}
      case $rel in *.ko.xz | *.ko.zst | *.ko.gz) dst=${rel%.*} ;; *) dst=$rel ;; esac
      case $seen in *" $dst "*) continue ;; esac
      seen="$seen$dst "
      mkdir -p "$R/lib/modules/$KVER/$(dirname "$dst")"
      # busybox insmod cannot read compressed modules: decompress here.
      case $rel in
        *.ko.xz) xz -dc "$path" >"$R/lib/modules/$KVER/$dst" ;;
        *.ko.zst) zstd -qdc "$path" >"$R/lib/modules/$KVER/$dst" ;;
        *.ko.gz) gzip -dc "$path" >"$R/lib/modules/$KVER/$dst" ;;
        *) cp "$path" "$R/lib/modules/$KVER/$dst" ;;
      esac
      echo "$dst" >>"$R/etc/modules.boot"
    done <<<"$out"
  done
  cp "$moddir"/modules.builtin* "$moddir"/modules.order "$R/lib/modules/$KVER/" 2>/dev/null || true
  depmod -b "$R" "$KVER" # lets `modprobe` work interactively in the guest
}

if [ ! -f "$OUT/initrd.img" ] || [ "$SELF" -nt "$OUT/initrd.img" ] ||
  [ "$KROOT/.extracted" -nt "$OUT/initrd.img" ] || [ "$BUSYBOX" -nt "$OUT/initrd.img" ]; then
  stage=$(mktemp -d "$CACHE/initrd.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  write_rootfs "$stage"
  add_modules "$stage"
  (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6n) \
    >"$OUT/initrd.img.tmp" || die "creating the initramfs failed"
  mv "$OUT/initrd.img.tmp" "$OUT/initrd.img"
  rm -rf "$stage"; trap - EXIT
  log "wrote $OUT/initrd.img ($(du -h "$OUT/initrd.img" | cut -f1))"
fi

# --- data disk ---------------------------------------------------------------------------
if [ ! -f "$OUT/data.qcow2" ] || [ "$SELF" -nt "$OUT/data.qcow2" ]; then
  src=$(mktemp -d "$CACHE/data.XXXXXX")
  echo "corral data disk" >"$src/hello.txt"
  rm -f "$CACHE/data.raw"
  truncate -s 16M "$CACHE/data.raw"
  mkfs.ext4 -q -F -L corral-data -E root_owner=0:0 -d "$src" "$CACHE/data.raw" || die "mkfs.ext4 failed"
  qemu-img convert -f raw -O qcow2 "$CACHE/data.raw" "$OUT/data.qcow2.tmp" || die "qemu-img convert failed"
  mv "$OUT/data.qcow2.tmp" "$OUT/data.qcow2"
  rm -rf "$src" "$CACHE/data.raw"
  log "wrote $OUT/data.qcow2"
fi

# --- domain XML --------------------------------------------------------------------------
echo "$CMDLINE" >"$OUT/cmdline"
cat >"$OUT/tiny.xml.tmp" <<EOF
<domain type='qemu'>
  <name>tiny</name>
  <memory unit='MiB'>256</memory>
  <currentMemory unit='MiB'>256</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$OUT/vmlinuz</kernel>
    <initrd>$OUT/initrd.img</initrd>
    <cmdline>$CMDLINE</cmdline>
  </os>
  <features>
    <acpi/>
    <apic/>
  </features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$OUT/data.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'>
      <model type='virtio'/>
    </interface>
    <serial type='pty'>
      <target port='0'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='0'/>
    </console>
    <memballoon model='virtio'/>
  </devices>
</domain>
EOF
mv "$OUT/tiny.xml.tmp" "$OUT/tiny.xml"
log "ready: $OUT (kernel $KVER)"
