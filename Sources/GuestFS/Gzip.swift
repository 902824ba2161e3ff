import CZlib

/// Streaming gzip compression with the system zlib (for `corral guest tar-out --gzip`).
public final class GzipCompressor {
    private var stream = z_stream()
    private var finished = false

    public init(level: Int32 = 6) throws(GuestFSError) {
        guard corral_deflate_init_gzip(&stream, level) == Z_OK else { throw GuestFSError("zlib: deflateInit2 failed") }
    }

    deinit { deflateEnd(&stream) }

    /// Compresses `input`; with `finish`, also flushes everything and writes the gzip trailer.
    public func compress(_ input: [UInt8], finish: Bool = false) throws(GuestFSError) -> [UInt8] {
        guard !finished else { throw GuestFSError("zlib: stream already finished") }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var input = input
        var status: Int32 = Z_OK
        input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = UInt32(inBuf.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = UInt32(outBuf.count)
                    status = deflate(&stream, finish ? Z_FINISH : Z_NO_FLUSH)
                    output.append(contentsOf: outBuf[0..<(outBuf.count - Int(stream.avail_out))])
                }
            } while status == Z_OK && (stream.avail_out == 0 || (finish && status != Z_STREAM_END))
            stream.next_in = nil
        }
        guard status == Z_OK || status == Z_BUF_ERROR || status == Z_STREAM_END else {
            throw GuestFSError("zlib: deflate failed (\(status))")
        }
        if finish { finished = true }
        return output
    }
}
