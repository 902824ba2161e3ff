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
    fallocate -d "$name.raw"  # keep only nonzero blocks (the 64 MiB log holds the copy's records)
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
    fallocate -d xfs-v4.raw
    rm -rf xfsv4src xfsv4.proto
fi
