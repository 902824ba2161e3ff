/// Disk image formats, as `qemu-img info` reports them.
public enum ImageFormat: String, Sendable, CaseIterable {
    case raw, qcow2

    /// qcow2 if the file starts with the qcow2 magic, else raw (what QEMU's probing does for these two).
    public static func probe(path: String) throws(GuestFSError) -> ImageFormat {
        try probe(ImageFile(path: path))
    }

    static func probe(_ file: ImageFile) throws(GuestFSError) -> ImageFormat {
        guard file.size >= 4 else { return .raw }
        return ImageBytes(try file.read(at: 0, count: 4)).be32(0) == QCOW2Header.magic ? .qcow2 : .raw
    }
}

/// Opens a disk image read-only, decoding its format (probed when `format` is nil) and its backing
/// chain: relative backing names resolve against the overlay's directory, the chain is at most
/// `maxBackingDepth` deep, and a file met twice in one chain is a cycle.
///
/// A backing name in an untrusted image can point at any host file, whose bytes then appear as
/// guest data; `followBacking: false` refuses such images instead (as does forcing `.raw`).
public func openImage(path: String, format: ImageFormat? = nil, followBacking: Bool = true) throws(GuestFSError) -> any BlockDevice {
    var seen: Set<ImageFile.FileIdentity> = []
    return try openImage(path: path, format: format, followBacking: followBacking, depth: 0, seen: &seen)
}

public let maxBackingDepth = 32

private func openImage(path: String, format: ImageFormat?, followBacking: Bool, depth: Int,
                       seen: inout Set<ImageFile.FileIdentity>) throws(GuestFSError) -> any BlockDevice {
    let file = try ImageFile(path: path)
    guard seen.insert(file.identity).inserted else {
        throw GuestFSError("\(path): backing chain loops back to a file already in the chain")
    }
    let detected: ImageFormat
    if let format { detected = format } else { detected = try ImageFormat.probe(file) }
    switch detected {
    case .raw:
        return file
    case .qcow2:
        let header = try QCOW2Header.parse(file, name: path)
        var backing: (any BlockDevice)?
        if let name = header.backingFile {
            guard followBacking else {
                throw GuestFSError("\(path): has backing file \"\(name)\", and following backing files is disabled")
            }
            guard depth + 1 < maxBackingDepth else {
                throw GuestFSError("\(path): backing chain deeper than \(maxBackingDepth) images")
            }
            // Protocol and json: pseudo-filenames would reach beyond local files; refuse them.
            if name.hasPrefix("json:") || (name.contains(":") && !name.contains("/")) {
                throw GuestFSError("\(path): backing file \"\(name)\" is not a local file name")
            }
            let backingFormat: ImageFormat?
            switch header.backingFormat {
            case nil: backingFormat = nil
            case let f?:
                guard let known = ImageFormat(rawValue: f) else {
                    throw GuestFSError("\(path): backing format \"\(f)\" is not supported (raw or qcow2)")
                }
                backingFormat = known
            }
            let resolved = name.hasPrefix("/") ? name : directory(of: path) + "/" + name
            do {
                backing = try openImage(path: resolved, format: backingFormat, followBacking: true, depth: depth + 1, seen: &seen)
            } catch {
                throw GuestFSError("\(path): backing file: \(error.message)")
            }
        }
        return try QCOW2Image(file: file, header: header, backing: backing)
    }
}

/// One layer of an opened image's backing chain, for `qemu-img info --backing-chain`-style output.
public struct ImageLayer: Sendable, Equatable {
    public var path: String
    public var format: ImageFormat
    public var virtualSize: UInt64
    public var fileSize: UInt64
    /// qcow2 only.
    public var header: QCOW2Header?
}

/// The layers of a device returned by `openImage`, overlay first.
public func imageLayers(_ device: any BlockDevice) -> [ImageLayer] {
    var layers: [ImageLayer] = []
    var next: (any BlockDevice)? = device
    while let current = next {
        if let q = current as? QCOW2Image {
            layers.append(ImageLayer(path: q.file.path, format: .qcow2, virtualSize: q.size, fileSize: q.file.size, header: q.header))
            next = q.backing
        } else {
            if let f = current as? ImageFile {
                layers.append(ImageLayer(path: f.path, format: .raw, virtualSize: f.size, fileSize: f.size, header: nil))
            }
            next = nil
        }
    }
    return layers
}

private func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// Fixed-width integer reads from an untrusted byte array. Callers check ranges first; an out-of-range
/// read yields 0 rather than trapping, so a missed check degrades to "corrupt" instead of a crash.
struct ImageBytes {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func be32(_ o: Int) -> UInt32 { UInt32(truncatingIfNeeded: be(o, 4)) }
    func be64(_ o: Int) -> UInt64 { be(o, 8) }
    func le16(_ o: Int) -> UInt16 { UInt16(truncatingIfNeeded: le(o, 2)) }
    func le32(_ o: Int) -> UInt32 { UInt32(truncatingIfNeeded: le(o, 4)) }
    func le64(_ o: Int) -> UInt64 { le(o, 8) }

    private func be(_ o: Int, _ n: Int) -> UInt64 {
        guard o >= 0, o <= bytes.count - n else { return 0 }
        var v: UInt64 = 0
        for i in 0..<n { v = v << 8 | UInt64(bytes[o + i]) }
        return v
    }

    private func le(_ o: Int, _ n: Int) -> UInt64 {
        guard o >= 0, o <= bytes.count - n else { return 0 }
        var v: UInt64 = 0
        for i in (0..<n).reversed() { v = v << 8 | UInt64(bytes[o + i]) }
        return v
    }

    /// The array as consecutive big-endian 64-bit words (qcow2 L1 and L2 tables), in one pass.
    static func bigEndianWords(_ raw: [UInt8]) -> [UInt64] {
        raw.withUnsafeBytes { buf in
            (0..<(buf.count / 8)).map { UInt64(bigEndian: buf.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)) }
        }
    }

    /// Text up to the first NUL.
    static func string<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

func hex<T: BinaryInteger>(_ v: T) -> String { String(v, radix: 16) }
