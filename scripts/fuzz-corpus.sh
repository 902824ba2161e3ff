#!/bin/bash
# Builds the seed corpus for guestfs-fuzzer into DIR (default .build/fuzz-corpus), one directory per
# target. Seeds are tiny (libFuzzer mutates small inputs best): 128 KiB filesystems, 256 KiB disks
# (fuzz.sh runs with -max_len=256 KiB).
# Needs no root and no loop devices: LVM is written in its on-disk format by Python.
# Idempotent: a stamp holding this script's checksum makes a rerun a no-op.
set -euo pipefail

DIR=${1:-.build/fuzz-corpus}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
SUM=$(sha256sum "$0" | cut -d' ' -f1)
if [ -f "$DIR/stamp" ] && [ "$(cat "$DIR/stamp")" = "$SUM" ]; then exit 0; fi
export MTOOLS_SKIP_CHECK=1

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
mkdir -p out/{qcow2,partition,lvm,ext4,fat,iso9660,xfs}

# A small tree with every kind of node the readers map: nested directories, small and multi-block
# files, a sparse file, fast and slow symlinks, a hard link, a long name, a FIFO.
mkdir -p tree/etc tree/usr/share/doc tree/var/log tree/empty
printf 'NAME="Fuzz"\nID=fuzz\nVERSION_ID=1\n' > tree/etc/os-release
echo "/dev/sda1 / ext4 defaults 0 1" > tree/etc/fstab
echo fuzzhost > tree/etc/hostname
python3 -c "import sys; sys.stdout.buffer.write(bytes(range(256)) * 20)" > tree/usr/share/doc/blocks.bin
truncate -s 40k tree/var/log/sparse && printf end >> tree/var/log/sparse
ln -s ../etc/os-release tree/usr/os-release
ln -s "/$(printf 'x%.0s' {1..80})/target/beyond/the/inline/sixty/bytes" tree/usr/slowlink
ln tree/etc/hostname tree/etc/hostname.hard
echo long > "tree/usr/a-rather-long-file-name-that-needs-several-long-name-entries.txt"
mkfifo tree/var/fifo

# ext4 (and ext2/ext3 layouts) without journals: 128 KiB cannot hold one.
mk_ext() {  # NAME mkfs-args...
    local name=$1; shift
    mkfs.ext4 -q -F -N 32 -b 1024 -O ^has_journal -E root_owner=0:0 "$@" -d tree "out/ext4/$name" 128k >/dev/null
}
mk_ext ext4.img
mk_ext ext2.img -t ext2
mk_ext inline.img -O inline_data
mk_ext noextent.img -O ^metadata_csum,^extent,^64bit
mk_ext ext4-64bit.img -O 64bit -I 256

# FAT12 (64 KiB) and FAT16 (the first 256 KiB of a 4 MiB one: boot sector, FATs, root, early files).
mkfs.vfat -C -n FUZZ out/fat/fat12.img 64 >/dev/null
mkfs.vfat -C -F 16 -s 1 -n FUZZ16 fat16.img 4096 >/dev/null
for img in out/fat/fat12.img fat16.img; do
    mmd -i "$img" ::/etc ::/etc/sub
    mcopy -i "$img" tree/etc/os-release tree/etc/hostname ::/etc/
    mcopy -i "$img" tree/usr/share/doc/blocks.bin ::/
    mcopy -i "$img" "tree/usr/a-rather-long-file-name-that-needs-several-long-name-entries.txt" ::/etc/sub/
done
head -c 256k fat16.img > out/fat/fat16-head.img

# ISO 9660: plain level 1, Rock Ridge, Rock Ridge + Joliet (no 300 KiB padding).
rm tree/var/fifo  # xorriso would refuse nothing, but plain ISO 9660 cannot hold it anyway
xorriso -as mkisofs -quiet -no-pad -o out/iso9660/plain.iso tree 2>/dev/null
xorriso -as mkisofs -quiet -no-pad -R -o out/iso9660/rock.iso tree 2>/dev/null
xorriso -as mkisofs -quiet -no-pad -R -J -V FUZZ -o out/iso9660/joliet.iso tree 2>/dev/null

# XFS cannot be smaller than 300 MiB: keep the start of a fresh one (superblock, AG headers, free
# space and inode btree roots, the root inode chunk), with the tree's small files created in AG 0.
# The sparse image is populated with a protofile, since mounting needs root.
if command -v mkfs.xfs >/dev/null; then
    printf 'proto\n0 0\nd--755 0 0\netc d--755 0 0\nos-release ---644 0 0 %s\nhostname ---644 0 0 %s\n$\nlink l--777 0 0 etc/os-release\n$\n' \
        "$W/tree/etc/os-release" "$W/tree/etc/hostname" > xfs.proto
    truncate -s 300m xfs.img
    mkfs.xfs -q -f -b size=1024 -i size=512 -p xfs.proto xfs.img >/dev/null 2>&1 || mkfs.xfs -q -f xfs.img >/dev/null
    head -c 128k xfs.img > out/xfs/xfs-head.img
    rm xfs.img
fi

# Disks: MBR with a primary ext4, an extended partition with two logicals (FAT12, empty),
# and GPT with named partitions. Partition contents come from the filesystem seeds above.
put() { dd if="$1" of="$2" bs=512 seek="$3" conv=notrunc status=none; }
truncate -s 256k mbr.img
sfdisk -q mbr.img >/dev/null <<'EOF'
label: dos
label-id: 0x0f0220ff
start=64, size=256, type=83, bootable
start=320, size=192, type=5
start=336, size=128, type=c
start=480, size=32, type=83
EOF
put out/ext4/ext4.img mbr.img 64
put out/fat/fat12.img mbr.img 336
cp mbr.img out/partition/mbr.img
truncate -s 256k gpt.img
sgdisk -o -a 1 -n 1:34:+128K -t 1:8300 -c 1:"root fs" -n 2:0:+64K -t 2:ef00 -c 2:"EFI" \
    -n 3:0:0 -t 3:8e00 gpt.img >/dev/null
put out/ext4/ext4.img gpt.img 34
put out/fat/fat12.img gpt.img 290
cp gpt.img out/partition/gpt.img
head -c 1024 mbr.img > out/partition/mbr-only.img

# LVM: one PV (label, metadata area header with LVM's CRCs, metadata text) with tiny geometry:
# 4 KiB extents from 64 KiB, LV "root" = the ext4 seed in two segments out of order, LV "data"
# linear, LV "stripes" striped (refused by the reader, parsed all the same).
python3 - out/ext4/ext4.img out/lvm/pv.img <<'EOF'
import struct, sys, zlib
def crc(data):  # LVM's calc_crc: CRC-32 seeded with 0xf597a6cf, no final inversion
    return zlib.crc32(data, 0xf597a6cf ^ 0xffffffff) ^ 0xffffffff
fs = open(sys.argv[1], "rb").read()
KiB, MDA, MDA_SIZE, PE_START, EXTENT = 1024, 4096, 28 * 1024, 64 * 1024, 4096
size = 208 * KiB
uuid = "FUZZPV-0000-1111-2222-3333-4444-555555"
seg = lambda i, start, count, body: (f"\t\t\tsegment{i} {{\n\t\t\t\tstart_extent = {start}\n"
                                     f"\t\t\t\textent_count = {count}\n" + "".join(f"\t\t\t\t{l}\n" for l in body) + "\t\t\t}\n")
lin = lambda pe: ['type = "striped"', "stripe_count = 1", f'stripes = ["pv0", {pe}]']
def lv(name, segs):
    body = "".join(seg(i + 1, s, c, b) for i, (s, c, b) in enumerate(segs))
    return (f'\t\t{name} {{\n\t\t\tid = "{name:x<6}-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa"\n'
            f'\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]\n\t\t\tflags = []\n\t\t\tsegment_count = {len(segs)}\n{body}\t\t}}\n')
text = (f'fuzzvg {{\n\tid = "VGVGVG-0000-1111-2222-3333-4444-555555"\n\tseqno = 3\n\tformat = "lvm2"\n'
        f'\tstatus = ["RESIZEABLE", "READ", "WRITE"]\n\tflags = []\n\textent_size = {EXTENT // 512}\n'
        f'\tmax_lv = 0\n\tmax_pv = 0\n\tmetadata_copies = 0\n\n\tphysical_volumes {{\n\t\tpv0 {{\n'
        f'\t\t\tid = "{uuid}"\n\t\t\tdevice = "/dev/sda"\n\t\t\tstatus = ["ALLOCATABLE"]\n\t\t\tflags = []\n'
        f'\t\t\tdev_size = {size // 512}\n\t\t\tpe_start = {PE_START // 512}\n\t\t\tpe_count = {(size - PE_START) // EXTENT}\n'
        f'\t\t}}\n\t}}\n\n\tlogical_volumes {{\n'
        + lv("root", [(0, 16, lin(16)), (16, 16, lin(0))]) + lv("data", [(0, 4, lin(32))])
        + lv("stripes", [(0, 2, ['type = "striped"', "stripe_count = 2", "stripe_size = 8", 'stripes = ["pv0", 40, "pv0", 42]'])])
        + '\t}\n}\n# Generated by fuzz-corpus.sh\n\ncontents = "Text Format Volume Group"\nversion = 1\n\n'
        'description = ""\n\ncreation_host = "fuzz"\ncreation_time = 0\n').encode() + b"\0"
disk = bytearray(size)
label = bytearray(512)
pvh = uuid.replace("-", "").encode() + struct.pack("<Q", size)
pvh += struct.pack("<QQQQ", PE_START, 0, 0, 0) + struct.pack("<QQQQ", MDA, MDA_SIZE, 0, 0)
pvh += struct.pack("<IIQQ", 2, 1, 0, 0)
label[0:32] = b"LABELONE" + struct.pack("<QII", 1, 0, 32) + b"LVM2 001"
label[32:32 + len(pvh)] = pvh
label[16:20] = struct.pack("<I", crc(bytes(label[20:])))
disk[512:1024] = label
mda = bytearray(512)
mda[4:40] = b" LVM2 x[5A%r0N*>" + struct.pack("<IQQ", 1, MDA, MDA_SIZE)
mda[40:64] = struct.pack("<QQII", 512, len(text), crc(text), 0)
mda[0:4] = struct.pack("<I", crc(bytes(mda[4:])))
disk[MDA:MDA + 512] = mda
disk[MDA + 512:MDA + 512 + len(text)] = text
# root: extents 0-15 live at PV extent 16, extents 16-31 at PV extent 0.
disk[PE_START + 16 * EXTENT:PE_START + 32 * EXTENT] = fs[:16 * EXTENT]
disk[PE_START:PE_START + 16 * EXTENT] = fs[16 * EXTENT:32 * EXTENT]
open(sys.argv[2], "wb").write(disk)
EOF
truncate -s 256k lvm-mbr.img
sfdisk -q lvm-mbr.img >/dev/null <<'EOF'
label: dos
start=64, size=416, type=8e
EOF
put out/lvm/pv.img lvm-mbr.img 64
cp lvm-mbr.img out/lvm/pv-in-mbr.img

# qcow2 with 512-byte clusters (so a small disk has many L2 tables): v3, v2, zlib, zstd, an
# extended-L2 one (which needs 16 KiB clusters at least), and an overlay naming a backing file.
qemu-img convert -O qcow2 -o cluster_size=512 mbr.img out/qcow2/mbr-512.qcow2
qemu-img convert -O qcow2 -o cluster_size=512,compat=0.10 gpt.img out/qcow2/gpt-v2.qcow2
qemu-img convert -c -O qcow2 -o cluster_size=4096 mbr.img out/qcow2/mbr-zlib.qcow2
qemu-img convert -c -O qcow2 -o cluster_size=4096,compression_type=zstd out/lvm/pv.img out/qcow2/pv-zstd.qcow2
qemu-img convert -O qcow2 -o cluster_size=16k,extended_l2=on out/ext4/ext4.img out/qcow2/extl2.qcow2
qemu-img create -q -f qcow2 -u -o cluster_size=512 -b base.raw -F raw out/qcow2/overlay.qcow2 256k

rm -rf "${DIR:?}"/*
mv out/* "$DIR"/
echo "$SUM" > "$DIR/stamp"
