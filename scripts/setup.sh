#!/usr/bin/env bash
# Installs the Debian packages Corral's build, demo and tests need (idempotent).
set -euo pipefail

PACKAGES=(
  qemu-system-x86 qemu-utils      # the hypervisor and qemu-img
  busybox-static cpio e2fsprogs   # the tiny guest's initramfs and data disk
  xz-utils zstd kmod              # decompressing the cloud kernel's modules
  libvirt-clients                 # virsh, for interop checks
  libvirt-daemon tini             # the real libvirtd (+ its QEMU driver) as interop oracle, and its reaper
  python3-libvirt python3-pytest  # interop suite (tests/interop) and bench/daemon_vs_libvirtd.py
  prometheus-libvirt-exporter     # a third-party libvirt client the interop suite scrapes
  zlib1g-dev libzstd-dev pkg-config   # GuestFS: qcow2 compressed clusters
  fdisk gdisk lvm2 dosfstools mtools xorriso xfsprogs   # GuestFS test images (scripts/guest-images.sh)
  libguestfs-tools libguestfs-xfs linux-image-amd64   # the real virt-ls/virt-df/guestfish... the guest tools are compared with (supermin needs a kernel)
  dnsmasq-base nftables iproute2  # system-mode virtual networks: DHCP/DNS per network, NAT and forwarding rules, bridges/taps/netns
  rpm sqlite3                     # GuestFS inspection: a real rpmdb.sqlite for the RHEL fixture, sqlite3 as the SQLite oracle
  novnc libjs-xterm libjs-chart.js spice-html5   # the web console's browser libraries, served from /usr/share
  osinfo-db                       # the wizard's OS variants and their recommended settings
  chromium chromium-driver python3-selenium      # the browser suite (tests/browser): headless Chromium
  node-xterm                      # the web console's serial terminal: libjs-xterm's xterm.js only require()s node-xterm's files
)

# scripts/fuzz.sh links with lld, which swift.org toolchains ship next to swift; else Debian's.
if ! command -v ld.lld >/dev/null && command -v swift >/dev/null \
   && [ ! -x "$(dirname "$(readlink -f "$(command -v swift)")")/ld.lld" ]; then
  PACKAGES+=(lld)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "setup: swift (6.x) is not on PATH; install the Swift toolchain from swift.org" >&2; exit 1; }
