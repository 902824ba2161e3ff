# Part of guest-images.sh (sourced in the work directory): fish.raw, an inspectable Debian-like
# guest for `corral guest fish` — root ext4 on sda1 with /etc/fstab naming /boot (ext4, sda2) by
# label, and one of every file kind `file`, `ll` and `stat` distinguish.
R=fishtree
rm -rf "$R" fishboot && mkdir -p "$R"/{etc,usr/bin,usr/lib,dev,run,tmp,root,home/user,var/log,data,boot} fishboot/grub
cat > "$R/etc/fstab" <<'EOF'
# /etc/fstab: static file system information.
LABEL=fishroot  /      ext4  errors=remount-ro  0  1
LABEL=fishboot  /boot  ext4  defaults           0  2
EOF
cat > "$R/etc/os-release" <<'EOF'
PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
EOF
echo 12.5 > "$R/etc/debian_version"
echo fishhost > "$R/etc/hostname"
printf 'Welcome to the fish test guest.\n' > "$R/etc/motd"
ln -s /etc/motd "$R/etc/motd.link"
ln -s /nonexistent "$R/etc/dangling"
ln -s usr/bin "$R/bin" && ln -s usr/lib "$R/lib"
cp /bin/ls "$R/usr/bin/ls" && ln "$R/usr/bin/ls" "$R/usr/bin/dir"
printf '#!/bin/sh\necho hello\n' > "$R/usr/bin/hello.sh" && chmod 755 "$R/usr/bin/hello.sh"
printf 'setuid\n' > "$R/usr/bin/suid" && chmod 4755 "$R/usr/bin/suid"
mknod "$R/dev/null" c 1 3 && chmod 666 "$R/dev/null"
mknod "$R/dev/sda" b 8 0 && chmod 660 "$R/dev/sda"
mkfifo "$R/run/initctl" && chmod 600 "$R/run/initctl"
chmod 1777 "$R/tmp" && chmod 700 "$R/root"
echo 'alias ll="ls -l"' > "$R/root/.bashrc"
printf 'h\xc3\xa9llo w\xc3\xb6rld\n' > "$R/home/user/notes.txt"
chown -R 1000:1000 "$R/home/user"
: > "$R/var/log/empty.log"
echo "an old file" > "$R/var/old.txt"
for i in $(seq 1 25); do echo "line $i"; done > "$R/data/lines.txt"
printf 'no newline at the end' > "$R/data/nonl.txt"
echo "spaced out" > "$R/data/with space.txt"
gzip -9 -n -c "$R/data/lines.txt" > "$R/data/lines.gz"
pattern fish-data 4 > "$R/data/random.bin"
echo "set timeout=5" > fishboot/grub/grub.cfg
echo "CONFIG_EXT4_FS=y" > fishboot/config-6.1.0
# Fixed times so listings are reproducible; /var/old.txt is years old (ls prints its year).
find "$R" fishboot -exec touch -h -d '2024-03-01 12:34:56 UTC' {} +
touch -d '2001-02-03 04:05:06 UTC' "$R/var/old.txt"
mkfs.ext4 -q -F -L fishroot -U 0f15e000-0000-4000-8000-00000000f150 -b 1024 -d "$R" fishroot.img 10240k >/dev/null 2>&1
mkfs.ext4 -q -F -L fishboot -U 0f15e000-0000-4000-8000-00000000b007 -b 1024 -d fishboot fishboot.img 4096k >/dev/null 2>&1
truncate -s 16M fish.raw
sfdisk -q fish.raw <<'EOF'
label: dos
label-id: 0x0f15e000
start=2048, size=20480, type=83, bootable
start=22528, size=8192, type=83
EOF
put fishroot.img fish.raw 2048 && put fishboot.img fish.raw 22528
rm -rf "$R" fishboot fishroot.img fishboot.img
