# Part of guest-images.sh (sourced in the work directory): XFS v5 images as RHEL 8/9 and Fedora
# create them. The tree is copied onto a loop mount (the kernel's allocator gives the directory
# formats and a fragmented file a B+tree extent map); without loop devices there are no XFS
# images and the XFS tests skip. Images are sparse raw files plus compressed qcow2 copies.
# Also xfs.sb.txt (xfs_db's superblock print), xfs.statfs.txt (Linux's statfs, mounted read-only)
# and xfs-tree.txt (find's listing of the tree).
xfs_tree() {  # xfs_tree DIR: the test tree
    local d=$1 i
    mkdir -p "$d/small" "$d/block" "$d/leaf" "$d/node" "$d/data" "$d/dev" "$d/links" "$d/tïmé"
    for i in 1 2 3 4 5; do echo "small $i" > "$d/small/f$i"; done
    for i in $(seq 1 50); do echo "block $i" > "$d/block/entry-$i"; done
    for i in $(seq 1 400); do : > "$d/leaf/leaf-entry-number-$i"; done
    for i in $(seq 1 5000); do : > "$d/node/n$i"; done
    echo "hello from xfs" > "$d/hello.txt"
    pattern xfs-blob 300 > "$d/data/blob.bin"
    # Sparse: data at 0, 1 MiB and 5 MiB + 7 bytes, size 8 MiB.
    printf 'start' > "$d/data/sparse"
    printf 'middle' | dd of="$d/data/sparse" bs=1 seek=1048576 conv=notrunc status=none
    printf 'late' | dd of="$d/data/sparse" bs=1 seek=5242887 conv=notrunc status=none
    truncate -s 8M "$d/data/sparse"
    # Unwritten: 1 MiB preallocated, 4 KiB written in the middle; reads as zeros around it.
    fallocate -l 1M "$d/data/unwritten"
    printf 'written' | dd of="$d/data/unwritten" bs=4096 seek=100 conv=notrunc status=none
    # 1200 separate extents (one 4 KiB block every 8 KiB): more than the inode holds, so a bmbt.
    # Written backwards with a sync each, so speculative preallocation past EOF fills no hole.
    python3 -c "
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
for i in reversed(range(1200)):
    os.pwrite(fd, (b'frag%06d' % i) * 409 + b'x' * 6, i * 8192)
    os.fdatasync(fd)
os.close(fd)" "$d/data/frag"
    ln -s ../hello.txt "$d/links/short"
    ln -s "/$(printf 'long-component-%03d/' $(seq 1 50))end" "$d/links/long"
    ln "$d/hello.txt" "$d/links/hard1"; ln "$d/hello.txt" "$d/links/hard2"
    echo "ünïcödé" > "$d/tïmé/日本語.txt"
    mknod "$d/dev/null" c 1 3; mknod "$d/dev/sda1" b 8 1; mknod "$d/dev/big" c 300 70000
    mkfifo "$d/dev/fifo"
    chown 1000:1001 "$d/hello.txt"; chmod 4751 "$d/data/blob.bin"
    touch -h -d '2100-01-02 03:04:05.123456789 UTC' "$d/tïmé/日本語.txt"
    touch -h -d '1950-06-07 08:09:10.5 UTC' "$d/small/f1"
}
xfs_sparse() {  # mkfs.xfs preallocates the log in the image file: copy it with holes for zeros
    cp --sparse=always "$1" "$1.sparse" && mv "$1.sparse" "$1"
}
xfs_image() {  # xfs_image NAME MKFS-OPTIONS...: NAME.raw, NAME.qcow2 and the listings, if loop mounts work
    local name=$1; shift
    mkdir -p xfsmnt && truncate -s 320M "$name.raw" && mkfs.xfs -q -f "$@" "$name.raw" || return 1
    mount -o loop "$name.raw" xfsmnt 2>/dev/null || { rm -f "$name.raw"; return 1; }
    xfs_tree xfsmnt
    (cd xfsmnt && find . -printf '%y %m %n %U %G %s %T@ %p\n' | sort -k8) > "$name-tree.txt"
    umount xfsmnt
    # What Linux's statfs says with the filesystem mounted read-only (f_bsize f_blocks f_bfree f_bavail f_files f_ffree).
    mount -o loop,ro "$name.raw" xfsmnt && stat -f -c '%S %b %f %a %c %d' xfsmnt > "$name.statfs.txt" && umount xfsmnt
    xfs_db -r -c 'sb 0' -c print "$name.raw" > "$name.sb.txt"
    xfs_sparse "$name.raw"
    qemu-img convert -O qcow2 -c "$name.raw" "$name.qcow2"
}
if [ -z "${GUEST_IMAGES_NO_LOOP:-}" ] && command -v mkfs.xfs >/dev/null; then
    # As RHEL 9 / Fedora: 4 KiB blocks, bigtime, ftype. Then 1 KiB blocks with 8 KiB directory
    # blocks (several blocks each), 64-bit extent counters and 32-bit timestamps.
    xfs_image xfs -L corralxfs && xfs_image xfs-1k -b size=1024 -n size=8192 -m bigtime=0 -i nrext64=1 || true
fi
rmdir xfsmnt 2>/dev/null || true

# Version 4 without directory file types (Linux 6.x cannot mount it: mkfs.xfs builds it from a
# protofile, as `man mkfs.xfs` describes: name, type/setuid/setgid/mode, uid, gid, then the source
# file, the link target or the device numbers).
if command -v mkfs.xfs >/dev/null; then
    mkdir -p xfsv4src
    echo "hello from xfs v4" > xfsv4src/hello
    pattern xfs-v4-blob 100 > xfsv4src/blob
    {
        echo /dev/null; echo 0 0; echo "d--755 0 0"
        echo "hello.txt ---644 1000 1001 $PWD/xfsv4src/hello"
        echo "blob.bin -u-751 0 0 $PWD/xfsv4src/blob"
        echo "small d--755 0 0"; for i in 1 2 3 4 5; do echo "f$i ---644 0 0 $PWD/xfsv4src/hello"; done; echo '$'
        echo "block d--700 0 0"; for i in $(seq 1 50); do echo "entry-$i ---600 0 0 $PWD/xfsv4src/hello"; done; echo '$'
        echo "leaf d--755 0 0"; for i in $(seq 1 400); do echo "leaf-entry-number-$i ---644 0 0 $PWD/xfsv4src/hello"; done; echo '$'
        echo "links d--755 0 0"
        echo "short l--777 0 0 ../hello.txt"
        echo "long l--777 0 0 /$(printf 'long-component-%03d/' $(seq 1 50))end"
        echo '$'
        echo "dev d--755 0 0"; echo "null c--666 0 0 1 3"; echo "sda1 b--660 0 6 8 1"; echo "fifo p--644 0 0"; echo '$'
        echo '$'
    } > xfsv4.proto
    truncate -s 320M xfs-v4.raw
    mkfs.xfs -q -f -m crc=0 -n ftype=0 -L corralv4 -p xfsv4.proto xfs-v4.raw >/dev/null 2>&1
    xfs_db -r -c 'sb 0' -c print xfs-v4.raw > xfs-v4.sb.txt
    xfs_sparse xfs-v4.raw
    rm -rf xfsv4src xfsv4.proto
fi

# A RHEL 9 layout: GPT with an EFI system partition, XFS /boot, and an LVM PV holding VG "rhel"
# with LV "root" (XFS). Both filesystems are filled on loop mounts, then copied into place; the LV
# is described with vgcfgrestore (no device-mapper here). Only the compressed qcow2 is kept.
rhel_fs() {  # rhel_fs IMAGE LABEL FILL-FUNCTION
    truncate -s 300M "$1" && mkfs.xfs -q -f -L "$2" "$1" && mount -o loop "$1" xfsmnt && "$3" xfsmnt
    umount xfsmnt
}
rhel_boot() {
    echo "not a kernel" > "$1/vmlinuz-5.14.0-427.13.1.el9_4.x86_64"; mkdir -p "$1/grub2"
    echo "set default=0" > "$1/grub2/grub.cfg"
}
rhel_root() {
    mkdir -p "$1/etc" "$1/boot" "$1/root"
    printf 'NAME="Red Hat Enterprise Linux"\nVERSION="9.4 (Plow)"\nID="rhel"\nVERSION_ID="9.4"\nPRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"\n' > "$1/etc/os-release"
    echo "Red Hat Enterprise Linux release 9.4 (Plow)" > "$1/etc/redhat-release"
    printf '/dev/mapper/rhel-root /     xfs  defaults 0 0\nUUID=%s /boot xfs defaults 0 0\n' \
        "$(blkid -s UUID -o value rhel-boot.xfs)" > "$1/etc/fstab"
    echo "root's file" > "$1/root/notes.txt"
}
if [ -z "${GUEST_IMAGES_NO_LOOP:-}" ] && [ -f xfs.raw ] && mkdir -p xfsmnt \
    && rhel_fs rhel-boot.xfs boot rhel_boot && rhel_fs rhel-root.xfs root rhel_root; then
    truncate -s 680M rhel.raw
    sgdisk -o -n 1:2048:+16M -t 1:ef00 -c 1:"EFI System Partition" -n 2:0:+300M -t 2:8300 \
        -n 3:0:0 -t 3:8e00 rhel.raw >/dev/null 2>&1
    mkfs.vfat -C -n EFI efi.img 16384 >/dev/null && put efi.img rhel.raw 2048
    P2=$(sgdisk -i 2 rhel.raw | awk '/First sector/ {print $3}')
    P3=$(sgdisk -i 3 rhel.raw | awk '/First sector/ {print $3}')
    P3END=$(sgdisk -i 3 rhel.raw | awk '/Last sector/ {print $3}')
    dd if=rhel-boot.xfs of=rhel.raw bs=512 seek="$P2" conv=notrunc,sparse status=none
    LR=$(losetup -f --show -o $((P3 * 512)) --sizelimit $(((P3END - P3 + 1) * 512)) rhel.raw)
    trap 'vgchange -an rhel >/dev/null 2>&1; losetup -d "$LR" 2>/dev/null' EXIT
    # A host that has a VG named rhel of its own refuses the name: then there is no such image.
    vgcreate -q -s 4M rhel "$LR" >/dev/null 2>&1 && vgcfgbackup -q -f rhelvg.txt rhel >/dev/null \
        && python3 - <<'PY' && vgcfgrestore -q -f rhelvg2.txt rhel >/dev/null 2>&1 && RHELVG=ok || RHELVG=
text = open("rhelvg.txt").read()
lv = """
\tlogical_volumes {
\t\troot {
\t\t\tid = "rootlv-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa"
\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]
\t\t\tflags = []
\t\t\tsegment_count = 1
\t\t\tsegment1 {
\t\t\t\tstart_extent = 0
\t\t\t\textent_count = 75
\t\t\t\ttype = "striped"
\t\t\t\tstripe_count = 1
\t\t\t\tstripes = ["pv0", 0]
\t\t\t}
\t\t}
\t}
"""
i = text.rstrip().rfind("}")
open("rhelvg2.txt", "w").write(text[:i] + lv + text[i:])
PY
    PESTART=$(pvs --noheadings --units b --nosuffix -o pe_start "$LR" 2>/dev/null | tr -d ' ') || PESTART=
    vgchange -an rhel >/dev/null 2>&1 || true
    losetup -d "$LR"; trap - EXIT
    if [ -n "$RHELVG" ] && [ -n "$PESTART" ]; then
        dd if=rhel-root.xfs of=rhel.raw bs=512 seek=$((P3 + PESTART / 512)) conv=notrunc,sparse status=none
        qemu-img convert -O qcow2 -c rhel.raw rhel-xfs.qcow2
    fi
fi
rm -f rhel.raw rhel-boot.xfs rhel-root.xfs efi.img rhelvg.txt rhelvg2.txt
rmdir xfsmnt 2>/dev/null || true
