# Part of guest-images.sh (sourced in the work directory): partitioned disks, qcow2 variants,
# backing chains and LVM.
# MBR: two primaries (ext4, FAT), an extended partition holding two logicals (ext4, raw pattern).
truncate -s 8M mbr.raw
sfdisk -q mbr.raw <<'EOF'
label: dos
label-id: 0x0c0ffee0
start=2048, size=4096, type=83, bootable
start=6144, size=2048, type=c
start=8192, size=8192, type=5
start=10240, size=2048, type=83
start=14336, size=2048, type=da
EOF
ext4 p1.img 2048 mbrroot && put p1.img mbr.raw 2048
mkfs.vfat -C -n MBRFAT fat.img 1024 >/dev/null && echo "fat file" > fat.txt && mcopy -i fat.img fat.txt ::/FAT.TXT
put fat.img mbr.raw 6144
ext4 p5.img 1024 mbrlogical && put p5.img mbr.raw 10240
pattern p6 1024 > p6.img && put p6.img mbr.raw 14336
sfdisk --json mbr.raw > mbr.sfdisk.json

# GPT with named partitions.
truncate -s 8M gpt.raw
sgdisk -o -n 1:2048:+3M -t 1:8300 -c 1:"root fs" -u 1:AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE \
    -n 2:0:+1M -t 2:ef00 -c 2:"EFI system" \
    -n 3:0:0 -t 3:8e00 -c 3:"data ünïcode" \
    -U 11111111-2222-3333-4444-555555555555 gpt.raw >/dev/null 2>&1
ext4 g1.img 3072 gptroot && put g1.img gpt.raw 2048
sfdisk --json gpt.raw > gpt.sfdisk.json

# GPT on a 4096-byte-sector disk (the loop device gives sgdisk the sector size).
# Without loop devices there is no 4096-byte-sector image (the tests then skip it).
truncate -s 8M gpt4k.raw
if [ -z "${GUEST_IMAGES_NO_LOOP:-}" ] && L4=$(losetup -b 4096 -f --show gpt4k.raw 2>/dev/null); then
    sgdisk -o -n 1:256:+2M -t 1:8300 -c 1:"four k" -n 2:0:0 -t 2:0700 -c 2:"rest" "$L4" >/dev/null 2>&1
    sfdisk --json "$L4" > gpt4k.sfdisk.json
    losetup -d "$L4"
else
    rm gpt4k.raw
fi

# qcow2 variants of the MBR disk: v3, v2, small clusters, extended L2, zlib, zstd.
qemu-img convert -O qcow2 mbr.raw mbr.qcow2
qemu-img convert -O qcow2 -o compat=0.10 mbr.raw mbr-v2.qcow2
qemu-img convert -O qcow2 -o cluster_size=4096 mbr.raw mbr-4k.qcow2
qemu-img convert -O qcow2 -o cluster_size=512 gpt.raw gpt-512.qcow2
qemu-img convert -O qcow2 -o extended_l2=on,cluster_size=128k mbr.raw mbr-extl2.qcow2
qemu-img convert -O qcow2 -c mbr.raw mbr-zlib.qcow2
qemu-img convert -O qcow2 -c -o compression_type=zstd mbr.raw mbr-zstd.qcow2
qemu-img convert -O qcow2 -c -o extended_l2=on,compression_type=zstd mbr.raw mbr-extl2-zstd.qcow2
qemu-img convert -O qcow2 -c -o compat=0.10,cluster_size=4096 gpt.raw gpt-zlib-v2.qcow2

# Backing chains, relative names: raw <- mid (qcow2) <- top (qcow2, extended L2); expected contents
# are QEMU's own flattening.
mkdir -p chain
cp mbr.raw chain/base.raw
(cd chain
 qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 8M
 qemu-io -c "write -P 0xab 1M 64k" -c "write -z 2M 64k" -c "write -P 0x11 7M 3k" mid.qcow2 >/dev/null
 qemu-img create -q -f qcow2 -o extended_l2=on -b mid.qcow2 -F qcow2 top.qcow2 8M
 qemu-io -c "write -P 0xcd 1052672 4k" -c "write -z 7340032 2k" -c "write -P 0x77 4M 512" top.qcow2 >/dev/null
 qemu-img create -q -f qcow2 -b top.qcow2 -F qcow2 zlibtop.qcow2 8M
 qemu-io -c "write -c -P 0x5a 3M 64k" zlibtop.qcow2 >/dev/null
 qemu-img convert -O raw zlibtop.qcow2 ../chain-expected.raw)

# A backing cycle a -> b -> a, and a chain without a format name (probed).
mkdir -p cycle
(cd cycle
 qemu-img create -q -f qcow2 b.qcow2 1M
 qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 a.qcow2 1M
 qemu-img rebase -q -u -f qcow2 -b a.qcow2 -F qcow2 b.qcow2)

# LVM: VG "corralvg" over two whole-disk PVs. With loop devices the real LVM tools write it
# (vgcreate, then vgcfgrestore adds the LVs, as lvcreate needs device-mapper, which containers
# lack); without them (or with GUEST_IMAGES_NO_LOOP=1) Python writes the same on-disk format:
# label, PV header, metadata area header with LVM's CRCs, metadata text.
truncate -s 12M lvm-a.raw; truncate -s 6M lvm-b.raw
cat > lvlayout.py <<'EOF'
def lv(name, segs):
    out = [f'\t\t{name} {{', f'\t\t\tid = "{(name * 8)[:6]}-aaaa-aaaa-aaaa-aaaa-aaaa-aaaaaa"',
           '\t\t\tstatus = ["READ", "WRITE", "VISIBLE"]', '\t\t\tflags = []', f'\t\t\tsegment_count = {len(segs)}']
    start = 0
    for i, (count, body) in enumerate(segs, 1):
        out += [f'\t\t\tsegment{i} {{', f'\t\t\t\tstart_extent = {start}', f'\t\t\t\textent_count = {count}']
        out += ['\t\t\t\t' + l for l in body] + ['\t\t\t}']
        start += count
    return out + ['\t\t}']
lin = lambda pv, pe: ['type = "striped"', 'stripe_count = 1', f'stripes = ["{pv}", {pe}]']
# root: two segments on pv0 in reverse order; data: spans both PVs; stripes: 2 stripes (unsupported).
LVS = [("root", [(4, "pv0", 6), (2, "pv0", 1)]), ("data", [(3, "pv0", 3), (2, "pv1", 0)])]
lines = ['\tlogical_volumes {']
for name, segs in LVS:
    lines += lv(name, [(n, lin(pv, pe)) for n, pv, pe in segs])
lines += lv("stripes", [(2, ['type = "striped"', 'stripe_count = 2', 'stripe_size = 128',
                            'stripes = ["pv1", 2, "pv0", 10]'])])
lines.append('\t}')
SECTION = "\n".join(lines) + "\n"
EOF
if [ -z "${GUEST_IMAGES_NO_LOOP:-}" ] && LA=$(losetup -f --show lvm-a.raw 2>/dev/null); then
    LB=$(losetup -f --show lvm-b.raw)
    cleanup() { vgchange -an corralvg >/dev/null 2>&1 || true; losetup -d "$LA" "$LB" 2>/dev/null || true; }
    trap cleanup EXIT
    vgcreate -q -s 1M corralvg "$LA" "$LB" >/dev/null
    vgcfgbackup -q -f vg.txt corralvg >/dev/null
    python3 -c '
from lvlayout import SECTION
text = open("vg.txt").read()
i = text.rstrip().rfind("}")
open("vg2.txt", "w").write(text[:i] + SECTION + text[i:])'
    vgcfgrestore -q -f vg2.txt corralvg >/dev/null 2>&1
    lvs --noheadings --units b --nosuffix -o lv_name,seg_start_pe,seg_size_pe,seg_pe_ranges corralvg > lvm.segments.txt
    pvs --noheadings --units b --nosuffix -o pv_name,pe_start > lvm.pvs.txt
    cleanup; trap - EXIT
    echo "LVM fixtures: written by LVM tools on loop devices" > lvm.how.txt
else
    LA=pv0 LB=pv1
    python3 - <<'EOF'
import zlib, struct
from lvlayout import SECTION, LVS
def lvm_crc(data):  # LVM's calc_crc: CRC-32 seeded with 0xf597a6cf, no final inversion
    return zlib.crc32(data, 0xf597a6cf ^ 0xffffffff) ^ 0xffffffff
MiB, MDA = 1 << 20, 4096
pvs = [("pv0", "lvm-a.raw", 12 * MiB, "AAAAAA-1111-2222-3333-4444-5555-pv0000"),
       ("pv1", "lvm-b.raw", 6 * MiB, "BBBBBB-1111-2222-3333-4444-5555-pv1111")]
pv_text = "".join(f"""
\t\t{key} {{
\t\t\tid = "{uuid}"
\t\t\tdevice = "/dev/{key}"
\t\t\tstatus = ["ALLOCATABLE"]
\t\t\tflags = []
\t\t\tdev_size = {size // 512}
\t\t\tpe_start = 2048
\t\t\tpe_count = {size // MiB - 1}
\t\t}}""" for key, _, size, uuid in pvs)
text = f"""corralvg {{
\tid = "CCCCCC-1111-2222-3333-4444-5555-vg0000"
\tseqno = 1
\tformat = "lvm2"
\tstatus = ["RESIZEABLE", "READ", "WRITE"]
\tflags = []
\textent_size = 2048
\tmax_lv = 0
\tmax_pv = 0
\tmetadata_copies = 0

\tphysical_volumes {{{pv_text}
\t}}
{SECTION}}}
# Generated by guest-images.sh

contents = "Text Format Volume Group"
version = 1

description = ""

creation_host = "corral"
creation_time = 0
""".encode() + b"\0"
for key, path, size, uuid in pvs:
    with open(path, "r+b") as f:
        label = bytearray(512)
        pvh = uuid.replace("-", "").encode() + struct.pack("<Q", size)
        pvh += struct.pack("<QQQQ", MiB, 0, 0, 0)                # data area at pe_start, end of list
        pvh += struct.pack("<QQQQ", MDA, MiB - MDA, 0, 0)        # one metadata area, end of list
        pvh += struct.pack("<IIQQ", 2, 1, 0, 0)                  # header extension v2, in use, no boot areas
        label[0:32] = b"LABELONE" + struct.pack("<QII", 1, 0, 32) + b"LVM2 001"
        label[32:32 + len(pvh)] = pvh
        label[16:20] = struct.pack("<I", lvm_crc(bytes(label[20:])))
        f.seek(512); f.write(label)
        mda = bytearray(512)
        mda[4:40] = b" LVM2 x[5A%r0N*>" + struct.pack("<IQQ", 1, MDA, MiB - MDA)
        mda[40:64] = struct.pack("<QQII", 512, len(text), lvm_crc(text), 0)
        mda[0:4] = struct.pack("<I", lvm_crc(bytes(mda[4:])))
        f.seek(MDA); f.write(mda + text)
with open("lvm.pvs.txt", "w") as f:
    f.write(f"pv0 {MiB}\npv1 {MiB}\n")
with open("lvm.segments.txt", "w") as f:
    for name, segs in LVS:
        start = 0
        for n, pv, pe in segs:
            f.write(f"{name} {start} {n} {pv}:{pe}-{pe + n - 1}\n"); start += n
EOF
    echo "LVM fixtures: hand-assembled (no loop devices)" > lvm.how.txt
fi
ext4 lvroot.img 6144 lvroot
pattern lvdata 5120 > lvdata.img
python3 - "$LA" "$LB" <<'EOF'
import sys
la, lb = sys.argv[1], sys.argv[2]
files = {la: "lvm-a.raw", lb: "lvm-b.raw"}
pe_start = {}
for line in open("lvm.pvs.txt"):
    dev, start = line.split(); pe_start[dev] = int(start)
MiB = 1 << 20
for line in open("lvm.segments.txt"):
    fields = line.split()
    if fields[0] == "stripes": continue  # left unwritten: readers must refuse it anyway
    name, seg_start, seg_size, ranges = fields
    src = open(f"lv{name}.img", "rb").read()
    dev, pe = ranges.split(":")[0], int(ranges.split(":")[1].split("-")[0])
    with open(files[dev], "r+b") as f:
        f.seek(pe_start[dev] + pe * MiB)
        f.write(src[int(seg_start) * MiB:(int(seg_start) + int(seg_size)) * MiB])
EOF

# The same PVs inside MBR partitions (a PV's contents do not depend on where it starts), as qcow2.
truncate -s 20M mbr-lvm.raw
sfdisk -q mbr-lvm.raw <<'EOF'
label: dos
start=2048, size=24576, type=8e
start=26624, size=12288, type=8e
EOF
put lvm-a.raw mbr-lvm.raw 2048 && put lvm-b.raw mbr-lvm.raw 26624
qemu-img convert -O qcow2 mbr-lvm.raw mbr-lvm.qcow2 && rm mbr-lvm.raw

mv lvroot.img lvroot.expected; mv lvdata.img lvdata.expected
rm -rf tree-* ./*.img fat.txt vg.txt vg2.txt lvlayout.py __pycache__
