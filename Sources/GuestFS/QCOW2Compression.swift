import CZlib
import CZstd

/// Decoders for qcow2 compressed clusters. Output is exactly one cluster: a stream that ends
/// early or decodes to more is corrupt, and output never grows past the cluster size.
enum QCOW2Decompress {
    /// Raw deflate, as QEMU writes it (no zlib header); input may carry sector padding after the end.
    static func inflateRaw(_ input: [UInt8], outputSize: Int) throws(GuestFSError) -> [UInt8] {
        guard let r = inflateOnce(input, outputSize: outputSize, raw: true) else {
            throw GuestFSError("qcow2: cannot initialise zlib")
        }
        // A full cluster is success even when the stream's end marker lies in bytes not passed in.
        guard (r.status == Z_STREAM_END || r.status == Z_BUF_ERROR) && r.remaining == 0 else {
            throw GuestFSError("qcow2: corrupt zlib-compressed cluster (inflate status \(r.status))")
        }
        return r.output
    }

    static func zstd(_ input: [UInt8], outputSize: Int) throws(GuestFSError) -> [UInt8] {
        guard let dctx = ZSTD_createDCtx() else { throw GuestFSError("qcow2: cannot initialise zstd") }
        defer { ZSTD_freeDCtx(dctx) }
        // Clusters are at most 2 MiB, so a frame asking for a larger window is hostile or corrupt;
        // the cap keeps zstd from allocating a window of up to 128 MiB on the frame's say-so.
        ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, 22)
        var output = [UInt8](repeating: 0, count: outputSize)
        let failure: String? = input.withUnsafeBytes { inRaw in
            output.withUnsafeMutableBytes { outRaw in
                var inBuf = ZSTD_inBuffer(src: inRaw.baseAddress, size: inRaw.count, pos: 0)
                var outBuf = ZSTD_outBuffer(dst: outRaw.baseAddress, size: outRaw.count, pos: 0)
                while outBuf.pos < outBuf.size {
                    let before = (inBuf.pos, outBuf.pos)
                    let ret = ZSTD_decompressStream(dctx, &outBuf, &inBuf)
                    if ZSTD_isError(ret) != 0 { return String(cString: ZSTD_getErrorName(ret)) }
                    if ret == 0 && outBuf.pos < outBuf.size { return "frame ends before the cluster does" }
                    if before == (inBuf.pos, outBuf.pos) { return "truncated frame" }
                }
                return nil
            }
        }
        if let failure { throw GuestFSError("qcow2: corrupt zstd-compressed cluster: \(failure)") }
        return output
    }
}
