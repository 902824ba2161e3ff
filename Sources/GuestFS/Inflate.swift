import CZlib

/// One zlib inflate call into a buffer of exactly `outputSize` bytes, shared by the qcow2 and zisofs
/// decoders; each caller judges the status by its own format's rules. Nil: zlib could not start.
func inflateOnce(_ input: [UInt8], outputSize: Int, raw: Bool)
    -> (output: [UInt8], status: Int32, remaining: UInt)?
{
    var output = [UInt8](repeating: 0, count: outputSize)
    var input = input
    var stream = z_stream()
    // inflateInit is a macro; its function form takes the version and structure size.
    let started = raw ? corral_inflate_init_raw(&stream)
                      : inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
    guard started == Z_OK else { return nil }
    defer { inflateEnd(&stream) }
    let (status, remaining) = input.withUnsafeMutableBufferPointer { inBuf in
        output.withUnsafeMutableBufferPointer { outBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = uInt(inBuf.count)
            stream.next_out = outBuf.baseAddress
            stream.avail_out = uInt(outBuf.count)
            let status = inflate(&stream, Z_FINISH)
            return (status, stream.avail_out)
        }
    }
    return (output, status, UInt(remaining))
}
