# Part of guest-images.sh (sourced in the work directory): a small Linux-looking guest for the
# file tools (corral guest ls/cat/copy-out/tar-out), with every kind of inode mkfs.ext4 -d copies.
# files.raw: MBR, ext4 on /dev/sda1 (inspection finds a Linux root: /bin, /etc/fstab, os-release).
# files.qcow2: a qcow2 overlay backed by files.raw. noos.raw: a bare ext4 with no OS. hostile.raw: below.
F=tree-files
mkdir -p $F/bin $F/usr/bin $F/etc $F/home/user $F/links $F/hard $F/many $F/modes $F/dev $F/empty
cat > $F/etc/fstab <<'EOF'
# <file system> <mount point> <type> <options> <dump> <pass>
LABEL=filesroot / ext4 defaults 0 1
EOF
printf 'ID=corraltest\nVERSION_ID=1.2\nPRETTY_NAME="Corral Files Test 1.2"\nNAME="Corral Files"\n' > $F/etc/os-release
echo "filesguest" > $F/etc/hostname
echo "127.0.0.1 localhost" > $F/etc/hosts
printf 'hello, files\n' > $F/hello.txt
pattern files-blob 300 > $F/home/user/blob.bin
echo "owned by 1000" > $F/home/user/notes.txt
chown -R 1000:1000 $F/home/user
# Symlinks: relative, absolute, to a directory, dangling, a two-link loop, a self loop, escaping "..".
ln -s ../hello.txt $F/links/relative
ln -s /etc/os-release $F/links/absolute
ln -s ../many $F/links/todir
ln -s /no/such/target $F/links/dangling
ln -s loop-b $F/links/loop-a && ln -s loop-a $F/links/loop-b
ln -s self $F/links/self
ln -s ../../../../../../etc/hostname $F/links/escape
# Hard links: three names for one inode.
echo "one inode, three names" > $F/hard/a && ln $F/hard/a $F/hard/b && ln $F/hard/a $F/hard/c
# Names that need care: unicode, spaces, CSV specials, a leading dash.
echo "unicode" > "$F/ünïcödé – 日本.txt"
echo "space" > "$F/with space.txt"
echo "csv" > "$F/comma,\"quote\".txt"
echo "dash" > "$F/-dash"
# A 1 GiB sparse file with data at both ends and in the middle.
printf 'start' > $F/sparse.img && truncate -s 1G $F/sparse.img
printf 'middle' | dd of=$F/sparse.img bs=1 seek=$((512 << 20)) conv=notrunc status=none
printf 'end' | dd of=$F/sparse.img bs=1 seek=$(((1 << 30) - 3)) conv=notrunc status=none
# 3000 entries in one directory (htree-indexed).
(cd $F/many && seq -f 'file%04g' 0 2999 | xargs touch)
# 40 levels deep.
D=$F/deep; for i in $(seq 1 40); do D=$D/level$i; done; mkdir -p "$D" && echo "bottom" > "$D/bottom.txt"
# Special modes.
echo setuid > $F/modes/setuid && chmod 4755 $F/modes/setuid
echo setgid > $F/modes/setgid && chmod 2711 $F/modes/setgid
mkdir $F/modes/sticky && chmod 1777 $F/modes/sticky
echo private > $F/modes/private && chmod 0600 $F/modes/private
echo none > $F/modes/none && chmod 0000 $F/modes/none
# Device nodes, a FIFO and a socket.
mknod -m 0666 $F/dev/null c 1 3 && mknod -m 0660 $F/dev/sda1 b 8 1 && mknod -m 0600 $F/dev/big c 300 70000
mkfifo -m 0644 $F/dev/fifo
python3 -c "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" $F/dev/socket
# Fixed times (mtime 2021-03-04 05:06:07 UTC) so listings are reproducible; directories last.
find $F -depth -exec touch -h -d @1614834367 {} +
touch -h -d @946684800 $F/hello.txt   # 2000-01-01, outside ls -l's "recent" window
mkfs.ext4 -q -F -L filesroot -b 4096 -d $F files-p1.img 48M >/dev/null 2>&1
truncate -s 50M files.raw
sfdisk -q files.raw <<'EOF'
label: dos
label-id: 0x0f11e500
start=2048, size=98304, type=83
EOF
put files-p1.img files.raw 2048
qemu-img create -q -f qcow2 -b files.raw -F raw files.qcow2 50M

mkdir -p tree-noos/data && echo "no os here" > tree-noos/data/file.txt
mkfs.ext4 -q -F -L noos -d tree-noos noos.raw 4M >/dev/null 2>&1

# hostile.raw (bare ext4, no OS): a directory hard-linked into its own subtree (/cycle/b/up -> /cycle)
# and names a reader must not trust: "a/b" in one entry (patched in; no metadata_csum to fix up).
mkdir -p tree-hostile/cycle/b tree-hostile/names
echo inside > tree-hostile/cycle/b/f
echo evil > tree-hostile/names/aXb && echo fine > tree-hostile/names/ok
mkfs.ext4 -q -F -O ^metadata_csum -L hostile -d tree-hostile hostile.raw 4M >/dev/null 2>&1
debugfs -w -R "ln /cycle /cycle/b/up" hostile.raw >/dev/null 2>&1
python3 - <<'PY'
data = bytearray(open("hostile.raw", "rb").read())
i = data.find(b"aXb")
assert i >= 0 and data.find(b"aXb", i + 1) < 0
data[i:i + 3] = b"a/b"
open("hostile.raw", "wb").write(data)
PY
rm -rf $F tree-noos tree-hostile files-p1.img
