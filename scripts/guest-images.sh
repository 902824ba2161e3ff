#!/bin/bash
# Builds small guest disk image fixtures for the GuestFS tests into DIR (default .build/guest-images).
# Idempotent: a stamp holding this script's checksum makes a rerun a no-op. Needs root for the loop
# devices used by the LVM and 4096-byte-sector images (LVM metadata is written by the real LVM tools;
# LVs are described with vgcfgrestore because lvcreate needs device-mapper, which containers lack).
set -euo pipefail

DIR=${1:-.build/guest-images}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
PARTS=$(cd "$(dirname "$0")" && pwd)/guest-images.d
# The stamp covers this script and every part, so editing any of them rebuilds.
SUM=$(cat "$0" "$PARTS"/*.sh | sha256sum | cut -d' ' -f1)

exec 9>"$DIR.lock"
flock 9
if [ -f "$DIR/stamp" ] && [ "$(cat "$DIR/stamp")" = "$SUM" ]; then exit 0; fi

need() {  # command package
    command -v "$1" >/dev/null 2>&1 || PKGS="${PKGS:-} $2"
}
need qemu-img qemu-utils; need sfdisk fdisk; need sgdisk gdisk; need pvcreate lvm2
need mkfs.ext4 e2fsprogs; need mkfs.vfat dosfstools; need mcopy mtools
if [ -n "${PKGS:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $PKGS >/dev/null
fi
export LVM_SUPPRESS_FD_WARNINGS=1 MTOOLS_SKIP_CHECK=1

rm -rf "$DIR/work" && mkdir -p "$DIR/work"
W="$DIR/work"
cd "$W"

# Deterministic pseudo-random bytes: pattern NAME SIZE_KIB.
pattern() { python3 -c "
import random, sys
r = random.Random(sys.argv[1]); sys.stdout.buffer.write(r.randbytes(int(sys.argv[2]) * 1024))" "$1" "$2"; }
ext4() {  # ext4 OUT SIZE_KIB LABEL: a small ext4 with a few known files
    mkdir -p "tree-$3/etc" "tree-$3/data"
    echo "hello from $3" > "tree-$3/hello.txt"
    echo "NAME=\"Corral test $3\"" > "tree-$3/etc/os-release"
    pattern "$3-blob" 40 > "tree-$3/data/blob.bin"
    mkfs.ext4 -q -F -L "$3" -b 1024 -E root_owner=0:0 -d "tree-$3" "$1" "$2k" >/dev/null 2>&1
}
put() { dd if="$1" of="$2" bs=512 seek="$3" conv=notrunc status=none; }  # put FILE DISK SECTOR

# Each part adds its images to the work directory and removes its own temporaries.
for part in "$PARTS"/*.sh; do
    cd "$W"
    # shellcheck source=/dev/null
    source "$part"
done
cd "$DIR"
find . -mindepth 1 -maxdepth 1 ! -name work ! -name stamp -exec rm -rf {} +
mv work/* . && rmdir work
echo "$SUM" > stamp
