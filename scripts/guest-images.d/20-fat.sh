# Part of guest-images.sh (sourced in the work directory): FAT12/16/32 images written by mtools
# from one source tree (kept as fat-src/ for the tests to compare against), a zlib qcow2 copy and
# an MBR disk with a FAT32 partition. Times are UTC (TZ=UTC for mtools, as libguestfs's appliance).
export TZ=UTC
rm -rf fat-src && mkdir -p fat-src
(cd fat-src
 printf 'long name\n' > "Long File Name With Spaces.txt"
 printf 'accents\n' > "héllo wörld.txt"
 printf 'kanji\n' > "日本語.txt"
 printf 'upper\n' > UPPER.TXT
 printf 'lower\n' > readme.txt        # all lowercase 8.3: stored uppercase with both case flags
 printf 'base lower\n' > lower.TXT    # base flag only
 printf 'ext lower\n' > UP.txt        # extension flag only
 printf 'mixed\n' > Mixed.Txt         # needs a long name
 : > empty.txt
 printf 'read only\n' > ro.txt
 mkdir -p "Sub Dir/Nested"
 printf 'nested\n' > "Sub Dir/Nested/file.dat"
 deep=deep; for i in 1 2 3 4 5 6 7 8 9 10 11; do deep="$deep/level$i"; done
 mkdir -p "$deep" && printf 'bottom\n' > "$deep/bottom.txt"
 mkdir many
 # Distinct 8.3 prefixes keep mtools from searching for free numeric tails (cubic in the count).
 for i in $(seq -w 1 2000); do printf '%s\n' "$i" > "many/n$i long name.txt"; done
 mkdir frag && pattern fat-big 300 > frag/big.bin)
# Known, distinct modification times (FAT keeps even seconds).
find fat-src -exec touch -h -d '2021-03-04 05:06:08' {} +
touch -d '1999-12-31 23:59:58' fat-src/UPPER.TXT
touch -d '2107-12-31 23:59:58' fat-src/readme.txt

# fat NAME SIZE_KIB mkfs-args: fills the image from fat-src, then fragments frag/big.bin by
# copying it after alternate small files were deleted (this also leaves deleted entries).
fat() {
    local img=$1.img
    mkfs.vfat -C "${@:3}" -n "$(echo "$1" | tr a-z A-Z)" "$img" "$2" >/dev/null
    (cd fat-src && for f in * ; do [ "$f" = frag ] || mcopy -s -m -i "../$img" "$f" ::/; done)
    mmd -i "$img" ::/frag
    for i in $(seq 10 39); do printf '%03000d' "$i" > filler; mcopy -i "$img" filler "::/frag/f$i"; done
    for i in $(seq 10 2 38); do mdel -i "$img" "::/frag/f$i"; done
    mcopy -m -i "$img" fat-src/frag/big.bin ::/frag/big.bin
    for i in $(seq 11 2 39); do mdel -i "$img" "::/frag/f$i"; done
    mattrib -i "$img" +r ::/ro.txt
    mattrib -i "$img" +h ::/UPPER.TXT
    mdir -i "$img" ::/ | grep 'bytes free' | tr -dc '0-9' > "$1.free"   # "N bytes free" from mtools
    mdir -/ -a -i "$img" ::/ > "$1.mdir.txt"
}
fat fat12 4096 -F 12 -s 2
fat fat16 20480 -F 16 -s 4
fat fat32 40960 -F 32 -s 1
rm -f filler

qemu-img convert -c -O qcow2 fat32.img fat32-zlib.qcow2

# MBR disk: one FAT32 (LBA) partition at sector 2048.
truncate -s 42M fat-mbr.raw
printf 'label: dos\nstart=2048, type=c\n' | sfdisk -q fat-mbr.raw
put fat32.img fat-mbr.raw 2048
