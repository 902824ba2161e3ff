import Foundation
import Testing
@testable import GuestFS

@Suite(.serialized) struct VFSTests {
    func mounted(_ variant: Int = 0) throws -> VFS {
        var vfs = VFS()
        vfs.mount(try Ext4Fixture.open(Ext4Fixture.variants[variant]), at: "/")
        return vfs
    }

    func text(_ vfs: VFS, _ path: String) throws -> String {
        String(decoding: try vfs.readFile(path), as: UTF8.self)
    }

    @Test func symlinksResolveInsideTheGuest() throws {
        let vfs = try mounted()
        let osRelease = try text(vfs, "/etc/os-release")
        #expect(osRelease.contains("ID=testos"))
        #expect(try text(vfs, "/fastlink") == "hello\n")
        #expect(try vfs.readlink("/slowlink") == Ext4Fixture.slowTarget)
        #expect(try text(vfs, "/slowlink") == "hello\n")
        // Absolute targets and ".." above the root stay in the guest tree, never the host's /etc.
        #expect(try text(vfs, "/abslink") == osRelease)
        #expect(try text(vfs, "/escapelink") == osRelease)
        #expect(try text(vfs, "/dir1/abs-etc/os-release") == osRelease)
        #expect(try text(vfs, "/../../../etc/os-release") == osRelease)
        #expect(try text(vfs, "/etcdir/../hello.txt") == "hello\n")
        #expect(try text(vfs, "/dir1/up") == "hello\n")
        #expect(try text(vfs, "dir1/./sub//file") == "sub\n")
        #expect(try vfs.stat("/etcdir/").type == .directory)
        #expect(try vfs.lstat("/etcdir").type == .symlink)
        #expect(try vfs.stat("/..") == vfs.stat("/"))
    }

    @Test func errorsAreClearAndBounded() throws {
        let vfs = try mounted()
        #expect(throws: GuestFSError("/loopA: too many levels of symbolic links (ELOOP)")) { try vfs.stat("/loopA") }
        #expect(throws: GuestFSError("/self/x: too many levels of symbolic links (ELOOP)")) { try vfs.stat("/self/x") }
        #expect(try vfs.lstat("/loopA").type == .symlink)
        #expect(throws: GuestFSError("/dangling: no such file or directory (ENOENT)")) { try vfs.stat("/dangling") }
        #expect(throws: GuestFSError("/hello.txt/x: not a directory (ENOTDIR)")) { try vfs.stat("/hello.txt/x") }
        #expect(throws: GuestFSError("/etc: not a regular file (directory)")) { try vfs.readFile("/etc") }
        #expect(throws: GuestFSError("/hello.txt: not a symbolic link (EINVAL)")) { try vfs.readlink("/hello.txt") }
        #expect(throws: GuestFSError("no filesystem mounted at /")) { try VFS().stat("/") }
    }

    @Test func deepPathsBigDirectoriesUnicode() throws {
        for variant in [0, 3, 6] {
            let vfs = try mounted(variant)
            let deep = "/deep/" + (1...50).map { "d\($0)" }.joined(separator: "/") + "/leaf"
            #expect(try text(vfs, deep) == "bottom\n")
            let big = try vfs.readdir("/big")
            #expect(big.count == 5000)
            #expect(Set(big.map(\.name)) == Set((0..<5000).map { "entry-\($0)" }))
            #expect(big.allSatisfy { $0.type == .regular })
            #expect(try vfs.stat("/big/entry-4999").size == 0)
            #expect(try text(vfs, "/héllo wörld ✓.txt") == "cafe\n")
            #expect(try text(vfs, "/日本語") == "nihongo\n")
            #expect(try vfs.readdir("/dir1").map(\.name).sorted() == ["abs-etc", "sub", "up"])
        }
    }

    @Test func streamingReadsInChunks() throws {
        let vfs = try mounted(1)
        var sizes: [Int] = []
        try vfs.readFile("/size-300000", chunkSize: 65536) { sizes.append($0.count) }
        #expect(sizes == [65536, 65536, 65536, 65536, 37856])
        #expect(throws: GuestFSError("/sparse: 83886080 bytes exceeds the 1048576-byte limit")) {
            try vfs.readFile("/sparse", limit: 1 << 20)
        }
    }

    @Test func mountTable() throws {
        var vfs = try mounted(0)
        let boot = try Ext4Fixture.open(Ext4Fixture.variants[3])
        vfs.mount(boot, at: "/dir1/sub")
        #expect(vfs.mounts.map(\.path) == ["/", "/dir1/sub"])
        // The mounted filesystem hides the directory underneath.
        #expect(try vfs.readdir("/dir1/sub").contains { $0.name == "etc" })
        #expect(try text(vfs, "/dir1/sub/hello.txt") == "hello\n")
        #expect(try vfs.stat("/dir1/sub").inode == 2)
        // ".." from the mount root returns to the parent filesystem; absolute links from the
        // mounted filesystem start at the guest root.
        #expect(try vfs.readdir("/dir1/sub/..").map(\.name).sorted() == ["abs-etc", "sub", "up"])
        #expect(try vfs.resolve("/dir1/sub/etcdir/os-release", followLast: true).mount == 1)
        #expect(try vfs.resolve("/dir1/sub/abslink", followLast: true).mount == 0)
        #expect(try vfs.resolve("/dir1/sub/fastlink", followLast: true).mount == 1)
    }
}
