import Foundation
import Testing
@testable import GuestFS

@Suite(.serialized) struct Ext4SpeedTests {
    /// 50,000 files in 50 directories: readdir and stat of every entry.
    @Test func walkFiftyThousandFiles() throws {
        let dir = NSTemporaryDirectory() + "ext4-speed-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ext4TestShell("""
            set -e; rm -rf "$1"; mkdir -p "$1/src"; cd "$1/src"
            d=0; while [ $d -lt 50 ]; do mkdir d$d; (cd d$d && seq -f 'file-%g' 1 1000 | xargs touch); d=$((d+1)); done
            mke2fs -q -F -t ext4 -N 60000 -d "$1/src" "$1/speed.img" 64M
            """, [dir])
        let fs = try Ext4Filesystem(device: Ext4TestFileDevice(path: dir + "/speed.img"))
        let start = ContinuousClock.now
        var files = 0
        var pending: [UInt64] = [fs.rootInode]
        while let d = pending.popLast() {
            for e in try fs.readdir(d) {
                let st = try fs.stat(e.inode)
                if st.type == .directory { pending.append(e.inode) } else { files += 1 }
            }
        }
        let elapsed = ContinuousClock.now - start
        print("ext4: walked \(files) files in \(elapsed)")
        #expect(files == 50_000)
        // Well under a second optimised; debug builds and a loaded 2-core machine get headroom.
        #expect(elapsed < .seconds(5))
    }
}
