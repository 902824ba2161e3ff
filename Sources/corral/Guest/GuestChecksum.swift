import Foundation
import GuestFS

// File checksums for `ls -lR --checksum`, as guestfs_checksum prints them (the hex digest alone;
// "crc" is POSIX cksum's CRC). Small streaming implementations: swift-crypto is not a dependency
// and CryptoKit does not exist on Linux.

protocol StreamingDigest {
    mutating func update(_ data: [UInt8])
    mutating func finish() -> [UInt8]
}

enum GuestChecksum {
    enum Kind: String { case crc, md5, sha1, sha224, sha256, sha384, sha512 }

    static func make(_ kind: Kind) -> any StreamingDigest {
        switch kind {
        case .crc: CRC32POSIX()
        case .md5: MD5()
        case .sha1: SHA1()
        case .sha224: SHA256(is224: true)
        case .sha256: SHA256(is224: false)
        case .sha384: SHA512(is384: true)
        case .sha512: SHA512(is384: false)
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    static func digest(_ kind: Kind, _ data: [UInt8]) -> String {
        var d = make(kind)
        d.update(data)
        return render(kind, d.finish())
    }

    private static func render(_ kind: Kind, _ bytes: [UInt8]) -> String {
        guard kind == .crc else { return hex(bytes) }
        // cksum prints the CRC in decimal.
        return String(bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    }

    /// Streams a regular file through the digest in 1 MiB chunks.
    static func compute(_ kind: Kind, filesystem: any Filesystem, inode: UInt64, size: UInt64) throws(GuestFSError) -> String {
        var d = make(kind)
        var offset: UInt64 = 0
        while offset < size {
            let data = try filesystem.read(inode, at: offset, count: Int(min(1 << 20, size - offset)))
            guard !data.isEmpty else { throw GuestFSError("short read at \(offset) of \(size)") }
            d.update(data)
            offset += UInt64(data.count)
        }
        return render(kind, d.finish())
    }
}

/// Shared block buffering for the Merkle–Damgård digests.
private struct BlockBuffer {
    var pending: [UInt8] = []
    var length: UInt64 = 0
    let blockSize: Int

    init(blockSize: Int) { self.blockSize = blockSize; pending.reserveCapacity(blockSize) }

    /// Calls `block` for every complete block of `pending + data`.
    mutating func feed(_ data: [UInt8], _ block: (UnsafeBufferPointer<UInt8>) -> Void) {
        length &+= UInt64(data.count)
        var start = 0
        if !pending.isEmpty {
            let take = min(blockSize - pending.count, data.count)
            pending += data[0..<take]
            start = take
            guard pending.count == blockSize else { return }
            pending.withUnsafeBufferPointer(block)
            pending.removeAll(keepingCapacity: true)
        }
        data.withUnsafeBufferPointer { buf in
            while data.count - start >= blockSize {
                block(UnsafeBufferPointer(rebasing: buf[start..<start + blockSize]))
                start += blockSize
            }
        }
        pending += data[start...]
    }

    /// The final padding: 0x80, zeros, and the bit length in `lengthBytes` bytes (big or little endian).
    func padding(lengthBytes: Int, bigEndian: Bool) -> [UInt8] {
        var pad: [UInt8] = [0x80]
        let used = (pending.count + 1) % blockSize
        let zeros = (blockSize - lengthBytes - used + blockSize) % blockSize
        pad += repeatElement(0, count: zeros)
        let bits = length &* 8
        var len = [UInt8](repeating: 0, count: lengthBytes)
        for i in 0..<8 { len[bigEndian ? lengthBytes - 1 - i : i] = UInt8(truncatingIfNeeded: bits >> (8 * UInt64(i))) }
        return pad + len
    }
}

struct MD5: StreamingDigest {
    private var s: (UInt32, UInt32, UInt32, UInt32) = (0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476)
    private var buffer = BlockBuffer(blockSize: 64)
    private static let k: [UInt32] = (0..<64).map { UInt32(truncatingIfNeeded: Int64(abs(sin(Double($0 + 1))) * 4294967296.0)) }
    private static let r: [UInt32] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21]

    mutating func update(_ data: [UInt8]) {
        var st = s
        buffer.feed(data) { Self.compress(&st, $0) }
        s = st
    }

    mutating func finish() -> [UInt8] {
        update(buffer.padding(lengthBytes: 8, bigEndian: false))
        var out: [UInt8] = []
        for w in [s.0, s.1, s.2, s.3] { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: w >> (8 * UInt32(i)))) } }
        return out
    }

    private static func compress(_ s: inout (UInt32, UInt32, UInt32, UInt32), _ p: UnsafeBufferPointer<UInt8>) {
        // A stack buffer: one heap allocation per 64-byte block would dominate the cost.
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { m in
            for i in 0..<16 {
                m[i] = UInt32(p[4 * i]) | UInt32(p[4 * i + 1]) << 8 | UInt32(p[4 * i + 2]) << 16 | UInt32(p[4 * i + 3]) << 24
            }
            var (a, b, c, d) = s
            for i in 0..<64 {
                var f: UInt32
                let g: Int
                switch i >> 4 {
                case 0: f = (b & c) | (~b & d); g = i
                case 1: f = (d & b) | (~d & c); g = (5 &* i &+ 1) & 15
                case 2: f = b ^ c ^ d; g = (3 &* i &+ 5) & 15
                default: f = c ^ (b | ~d); g = (7 &* i) & 15
                }
                f = f &+ a &+ k[i] &+ m[g]
                a = d; d = c; c = b
                let shift = r[(i >> 4) * 4 + (i & 3)]
                b = b &+ (f << shift | f >> (32 - shift))
            }
            s = (s.0 &+ a, s.1 &+ b, s.2 &+ c, s.3 &+ d)
        }
    }
}

@inline(__always) private func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { x << n | x >> (32 - n) }
@inline(__always) private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
@inline(__always) private func rotr64(_ x: UInt64, _ n: UInt64) -> UInt64 { x >> n | x << (64 - n) }

private func bigEndianBytes<T: FixedWidthInteger>(_ words: [T]) -> [UInt8] {
    var out: [UInt8] = []
    for w in words { for i in (0..<T.bitWidth / 8).reversed() { out.append(UInt8(truncatingIfNeeded: w >> (8 * i))) } }
    return out
}

struct SHA1: StreamingDigest {
    private var h: [UInt32] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0]
    private var buffer = BlockBuffer(blockSize: 64)

    mutating func update(_ data: [UInt8]) {
        var st = h
        buffer.feed(data) { Self.compress(&st, $0) }
        h = st
    }

    mutating func finish() -> [UInt8] {
        update(buffer.padding(lengthBytes: 8, bigEndian: true))
        return bigEndianBytes(h)
    }

    private static func compress(_ h: inout [UInt32], _ p: UnsafeBufferPointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            for i in 0..<16 {
                w[i] = UInt32(p[4 * i]) << 24 | UInt32(p[4 * i + 1]) << 16 | UInt32(p[4 * i + 2]) << 8 | UInt32(p[4 * i + 3])
            }
            for i in 16..<80 { w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1) }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for i in 0..<80 {
                let f: UInt32, k: UInt32
                switch i {
                case 0..<20: f = (b & c) | (~b & d); k = 0x5A827999
                case 20..<40: f = b ^ c ^ d; k = 0x6ED9EBA1
                case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC
                default: f = b ^ c ^ d; k = 0xCA62C1D6
                }
                let t = rotl(a, 5) &+ f &+ e &+ k &+ w[i]
                e = d; d = c; c = rotl(b, 30); b = a; a = t
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e
        }
    }
}

struct SHA256: StreamingDigest {
    private var h: [UInt32]
    private let is224: Bool
    private var buffer = BlockBuffer(blockSize: 64)
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    init(is224: Bool) {
        self.is224 = is224
        h = is224 ? [0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939, 0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4]
                  : [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    }

    mutating func update(_ data: [UInt8]) {
        var st = h
        buffer.feed(data) { Self.compress(&st, $0) }
        h = st
    }

    mutating func finish() -> [UInt8] {
        update(buffer.padding(lengthBytes: 8, bigEndian: true))
        return bigEndianBytes(is224 ? Array(h.prefix(7)) : h)
    }

    private static func compress(_ h: inout [UInt32], _ p: UnsafeBufferPointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
            for i in 0..<16 {
                w[i] = UInt32(p[4 * i]) << 24 | UInt32(p[4 * i + 1]) << 16 | UInt32(p[4 * i + 2]) << 8 | UInt32(p[4 * i + 3])
            }
            for i in 16..<64 {
                let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
                let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for i in 0..<64 {
                let t1 = hh &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
                let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & b) ^ (a & c) ^ (b & c))
                hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
        }
    }
}

struct SHA512: StreamingDigest {
    private var h: [UInt64]
    private let is384: Bool
    private var buffer = BlockBuffer(blockSize: 128)
    private static let k: [UInt64] = [
        0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc, 0x3956c25bf348b538,
        0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118, 0xd807aa98a3030242, 0x12835b0145706fbe,
        0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2, 0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235,
        0xc19bf174cf692694, 0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
        0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5, 0x983e5152ee66dfab,
        0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4, 0xc6e00bf33da88fc2, 0xd5a79147930aa725,
        0x06ca6351e003826f, 0x142929670a0e6e70, 0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed,
        0x53380d139d95b3df, 0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
        0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30, 0xd192e819d6ef5218,
        0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8, 0x19a4c116b8d2d0c8, 0x1e376c085141ab53,
        0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8, 0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373,
        0x682e6ff3d6b2b8a3, 0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
        0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b, 0xca273eceea26619c,
        0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178, 0x06f067aa72176fba, 0x0a637dc5a2c898a6,
        0x113f9804bef90dae, 0x1b710b35131c471b, 0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc,
        0x431d67c49c100d4c, 0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
    ]

    init(is384: Bool) {
        self.is384 = is384
        h = is384 ? [0xcbbb9d5dc1059ed8, 0x629a292a367cd507, 0x9159015a3070dd17, 0x152fecd8f70e5939,
                     0x67332667ffc00b31, 0x8eb44a8768581511, 0xdb0c2e0d64f98fa7, 0x47b5481dbefa4fa4]
                  : [0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
                     0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179]
    }

    mutating func update(_ data: [UInt8]) {
        var st = h
        buffer.feed(data) { Self.compress(&st, $0) }
        h = st
    }

    mutating func finish() -> [UInt8] {
        update(buffer.padding(lengthBytes: 16, bigEndian: true))
        return bigEndianBytes(is384 ? Array(h.prefix(6)) : h)
    }

    private static func compress(_ h: inout [UInt64], _ p: UnsafeBufferPointer<UInt8>) {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 80) { w in
            for i in 0..<16 {
                var v: UInt64 = 0
                for j in 0..<8 { v = v << 8 | UInt64(p[8 * i + j]) }
                w[i] = v
            }
            for i in 16..<80 {
                let s0 = rotr64(w[i - 15], 1) ^ rotr64(w[i - 15], 8) ^ (w[i - 15] >> 7)
                let s1 = rotr64(w[i - 2], 19) ^ rotr64(w[i - 2], 61) ^ (w[i - 2] >> 6)
                w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
            }
            var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
            for i in 0..<80 {
                let t1 = hh &+ (rotr64(e, 14) ^ rotr64(e, 18) ^ rotr64(e, 41)) &+ ((e & f) ^ (~e & g)) &+ k[i] &+ w[i]
                let t2 = (rotr64(a, 28) ^ rotr64(a, 34) ^ rotr64(a, 39)) &+ ((a & b) ^ (a & c) ^ (b & c))
                hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
        }
    }
}

/// POSIX cksum: CRC-32 (polynomial 0x04C11DB7, MSB first) over the data, then over its length.
struct CRC32POSIX: StreamingDigest {
    private var crc: UInt32 = 0
    private var length: UInt64 = 0
    private static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i) << 24
        for _ in 0..<8 { c = c & 0x8000_0000 != 0 ? c << 1 ^ 0x04C1_1DB7 : c << 1 }
        return c
    }

    mutating func update(_ data: [UInt8]) {
        length &+= UInt64(data.count)
        for b in data { crc = crc << 8 ^ Self.table[Int((crc >> 24) ^ UInt32(b))] }
    }

    mutating func finish() -> [UInt8] {
        var n = length
        while n > 0 { update([UInt8(n & 0xff)]); n >>= 8 }
        let v = ~crc
        return [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
    }
}
