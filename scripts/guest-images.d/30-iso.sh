# Part of guest-images.sh (sourced in the work directory): ISO 9660 images written by xorriso
# (-as mkisofs, which writes Rock Ridge unless --norock): plain level 1 and 2, Joliet only, and
# Rock Ridge (+ Joliet, so Rock Ridge must win) with symlinks, hard links, devices, long and unicode names, relocated deep directories and a
# 2,000-entry directory; a qcow2 copy and a partitioned (MBR, partition at 32 KiB) variant.
command -v xorriso >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q xorriso >/dev/null
mkdir -p iso-tree/dir/sub iso-tree/many iso-tree/etc iso-tree/modes
T=iso-tree
echo "hello from iso" > $T/hello.txt
echo 'NAME="Corral ISO"' > $T/etc/os-release
pattern iso-big 1536 > iso-big.expected; cp iso-big.expected $T/dir/big.bin  # 1.5 MiB of known bytes
echo "deep file" > $T/dir/sub/inner.txt
ln -s dir/sub/inner.txt $T/link-rel
ln -s /etc/os-release $T/link-abs
ln -s ../hello.txt $T/dir/up
ln -s ./sub/../sub/inner.txt $T/dir/dotty
ln -s / $T/link-root
# A target longer than one SL entry holds (255 bytes): several SL entries, and a 240-byte component
# split into continued pieces. (xorriso 1.5.4 aborts on a component over 255 bytes.)
A100=$(printf 'a%.0s' $(seq 1 100)); B240=$(printf 'b%.0s' $(seq 1 240))
ln -s "/$A100/$B240/../x/$A100" $T/link-long
echo "linked" > $T/hard1 && ln $T/hard1 $T/dir/hard2
echo "unicode" > "$T/ünïcödé-日本語.txt"
echo "long" > "$T/$(printf 'L%.0s' $(seq 1 200)).txt"
D=$T/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12
mkdir -p $D && echo "twelve deep" > $D/deep.txt
i=0; while [ $i -lt 2000 ]; do : > "$T/many/f$(printf %04d $i)"; i=$((i+1)); done
echo secret > $T/modes/private && chmod 0640 $T/modes/private && chown 1000:1001 $T/modes/private
echo suid > $T/modes/suid && chmod 4755 $T/modes/suid
mkdir -p $T/modes/sticky && chmod 1777 $T/modes/sticky
mknod $T/modes/null c 1 3 && mknod $T/modes/sda1 b 8 1 && mkfifo $T/modes/fifo
touch -h -d '2001-02-03 04:05:06 UTC' $T/hello.txt $T/link-rel
touch -d '2040-07-08 09:10:11 UTC' $T/dir/big.bin
# What the tree holds, for the tests to compare stat results with.
python3 - "$T" > iso-tree.json <<'PY'
import json, os, stat, sys
root = sys.argv[1]
out = {}
for d, dirs, files in os.walk(root):
    for n in dirs + files:
        p = os.path.join(d, n); st = os.lstat(p)
        e = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid, "size": st.st_size,
             "mtime": int(st.st_mtime), "nlink": st.st_nlink}
        if stat.S_ISLNK(st.st_mode): e["target"] = os.readlink(p)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode): e["rdev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
        out["/" + os.path.relpath(p, root)] = e
json.dump(out, sys.stdout, ensure_ascii=False, indent=0, sort_keys=True)
PY
# --modification-date pins the volume dates (and so blkid's UUID).
X="xorriso -report_about SORRY -as mkisofs -V CORRAL_ISO --modification-date=2026112700000000"
$X -R -J --hardlinks -rr_reloc_dir rr_moved -o rr.iso $T 2>/dev/null
$X --norock -J -o joliet.iso $T 2>/dev/null
# Plain ECMA-119 trees: level 1 (8.3 names) and level 2 (31 characters); no deep tree.
mkdir -p plain-tree/DIR
echo "plain one" > plain-tree/README.TXT; echo "no ext" > plain-tree/NOEXT
echo "level two name" > plain-tree/DIR/Mixed.Case.Name.txt
$X --norock -iso-level 1 -o plain1.iso plain-tree 2>/dev/null
$X --norock -iso-level 2 -o plain2.iso plain-tree 2>/dev/null
qemu-img convert -O qcow2 rr.iso rr-iso.qcow2
# zisofs: files compressed by xorriso's filter (Linux decompresses them transparently): text, a
# file of zeros (blocks stored as nothing) and random bytes.
mkdir -p ziso-tree && cp iso-big.expected ziso-tree/random.bin && truncate -s 200k ziso-tree/zeros.bin
python3 -c 'import sys; sys.stdout.write("".join(f"line {i} of a compressible text\n" for i in range(12000)))' > zisofs-text.expected
cp zisofs-text.expected ziso-tree/text.txt
xorriso -report_about SORRY -outdev zisofs.iso -map ziso-tree / -set_filter_r --zisofs / -- -commit 2>/dev/null
# An MBR-partitioned disk whose partition 1 starts 32 KiB in and holds a complete ISO.
$X -R -partition_offset 16 --protective-msdos-label -o iso-part.raw plain-tree 2>/dev/null
rm -rf iso-tree plain-tree ziso-tree
